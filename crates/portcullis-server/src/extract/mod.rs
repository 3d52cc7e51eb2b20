//! Extractors that reject in protocol format (STYLE convention 4).

mod form;

pub use form::Params;
