//! The security pages of the admin UI (`templates/admin/security*.html`): the deployment's
//! counters, charts, events and webhook deliveries, and one client's rates against its
//! baselines. Charts arrive as markup built by [`super::charts`], which escapes every label.

use askama::Template;

use crate::pages::admin::{Choice, Nav, Notice};

/// A number with its label, at the top of the page.
pub(crate) struct Stat {
    pub(crate) label: &'static str,
    pub(crate) value: String,
    /// A second line: the same figure over another period, or what it means.
    pub(crate) detail: String,
    /// `critical`, `warning` or empty: how the tile is marked when the value is not zero.
    pub(crate) tone: &'static str,
    /// Where the tile leads (a filtered list), if anywhere.
    pub(crate) link: Option<String>,
}

/// The events of one kind raised in the last 24 hours, by severity.
pub(crate) struct KindCount {
    pub(crate) kind: String,
    pub(crate) info: i64,
    pub(crate) warning: i64,
    pub(crate) critical: i64,
    pub(crate) total: i64,
    /// The list filtered on this kind.
    pub(crate) link: String,
}

/// A security event as the lists show it.
pub(crate) struct EventLine {
    pub(crate) id: String,
    pub(crate) at: String,
    pub(crate) ago: String,
    pub(crate) kind: String,
    /// `info`, `warning`, `critical` (anything else stored shows as it is, unmarked).
    pub(crate) severity: String,
    pub(crate) client_id: Option<String>,
    pub(crate) account: Option<String>,
    pub(crate) address: Option<String>,
    pub(crate) text: String,
    /// `(name, value)` pairs.
    pub(crate) evidence: Vec<(String, String)>,
    /// Who acknowledged it, and when.
    pub(crate) acknowledged: Option<(String, String)>,
}

/// One webhook delivery of an event.
pub(crate) struct DeliveryLine {
    pub(crate) event_id: String,
    /// What the event was, when it is on this page.
    pub(crate) event_kind: Option<String>,
    /// The webhook: its position in `[[alerts.webhooks]]` and its origin (never the path, where
    /// some receivers keep a secret).
    pub(crate) sink: String,
    pub(crate) state: String,
    pub(crate) attempts: i64,
    pub(crate) last: String,
    pub(crate) next: String,
    pub(crate) updated: String,
}

/// Previous and next links of the events list (the store counts no total).
pub(crate) struct EventsPager {
    pub(crate) first: u64,
    pub(crate) last: u64,
    pub(crate) prev: Option<String>,
    pub(crate) next: Option<String>,
}

/// The events filter as the form shows it.
pub(crate) struct EventsFilter {
    pub(crate) kinds: Vec<Choice>,
    pub(crate) severities: Vec<Choice>,
    pub(crate) client: String,
    pub(crate) unacknowledged: bool,
    /// Whether any filter is set (the form offers to clear it).
    pub(crate) active: bool,
}

/// A chart with its heading.
pub(crate) struct ChartView {
    pub(crate) id: &'static str,
    pub(crate) heading: String,
    pub(crate) help: String,
    /// The `<figure>` markup from `charts::figure` (escaped there).
    pub(crate) markup: String,
}

/// `/admin/security`: counters, charts, events, deliveries.
#[derive(Template)]
#[template(path = "admin/security.html")]
pub(crate) struct SecurityPage {
    pub(crate) brand: &'static str,
    pub(crate) nav: Option<Nav>,
    pub(crate) notice: Option<Notice>,
    pub(crate) csrf_token: String,
    pub(crate) monitoring_enabled: bool,
    pub(crate) stats: Vec<Stat>,
    pub(crate) kinds: Vec<KindCount>,
    /// Requests per endpoint, full width.
    pub(crate) requests_chart: ChartView,
    /// Authentication failures and 429s, side by side.
    pub(crate) charts: Vec<ChartView>,
    pub(crate) filter: EventsFilter,
    pub(crate) events: Vec<EventLine>,
    pub(crate) pager: EventsPager,
    /// Where an acknowledgement returns: this view of the list.
    pub(crate) back: String,
    pub(crate) deliveries: Vec<DeliveryLine>,
    pub(crate) webhooks: usize,
}

/// A network or certificate a client was seen with.
pub(crate) struct SeenLine {
    pub(crate) kind: &'static str,
    pub(crate) value: String,
    pub(crate) first: String,
    pub(crate) last: String,
    pub(crate) last_ago: String,
}

/// A client's learned baseline at one endpoint.
pub(crate) struct BaselineLine {
    pub(crate) endpoint: String,
    pub(crate) mean: String,
    pub(crate) threshold: String,
    pub(crate) state: String,
}

/// `/admin/security/clients/{client_id}`: one client's rates, baselines, networks, events.
#[derive(Template)]
#[template(path = "admin/security_client.html")]
pub(crate) struct ClientSecurityPage {
    pub(crate) brand: &'static str,
    pub(crate) nav: Option<Nav>,
    pub(crate) notice: Option<Notice>,
    pub(crate) csrf_token: String,
    pub(crate) client_id: String,
    pub(crate) name: String,
    /// Whether the client is registered (events outlive a deleted client).
    pub(crate) registered: bool,
    pub(crate) charts: Vec<ChartView>,
    pub(crate) baselines: Vec<BaselineLine>,
    pub(crate) seen: Vec<SeenLine>,
    pub(crate) events: Vec<EventLine>,
    pub(crate) back: String,
}
