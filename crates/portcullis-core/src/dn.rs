//! Distinguished names: RFC 4514 strings compared with certificate subjects (RFC 8705 §2.1.2).
//!
//! Names are compared as sequences of RDNs, each a set of (attribute OID, value) pairs, with
//! values matched case-insensitively after trimming and folding inner whitespace
//! (caseIgnoreMatch). The RFC 4514 string lists RDNs last-first; certificates first-last.

use x509_parser::prelude::{FromDer as _, X509Certificate};

/// A distinguished name in certificate (ASN.1) order.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct DistinguishedName(Vec<Vec<(String, String)>>);

const SHORT_NAMES: [(&str, &str); 11] = [
    ("CN", "2.5.4.3"),
    ("SERIALNUMBER", "2.5.4.5"),
    ("C", "2.5.4.6"),
    ("L", "2.5.4.7"),
    ("ST", "2.5.4.8"),
    ("STREET", "2.5.4.9"),
    ("O", "2.5.4.10"),
    ("OU", "2.5.4.11"),
    ("DC", "0.9.2342.19200300.100.1.25"),
    ("UID", "0.9.2342.19200300.100.1.1"),
    ("EMAILADDRESS", "1.2.840.113549.1.9.1"),
];

fn oid_of(name: &str) -> Option<String> {
    let upper = name.trim().to_ascii_uppercase();
    if let Some((_, oid)) = SHORT_NAMES.iter().find(|(short, _)| *short == upper) {
        return Some((*oid).to_owned());
    }
    let dotted = upper.strip_prefix("OID.").unwrap_or(&upper);
    let valid = !dotted.is_empty()
        && dotted.split('.').count() >= 2
        && dotted
            .split('.')
            .all(|arc| !arc.is_empty() && arc.bytes().all(|b| b.is_ascii_digit()));
    valid.then(|| dotted.to_owned())
}

fn normalize(value: &str) -> String {
    value
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

impl DistinguishedName {
    /// Parses an RFC 4514 string such as `CN=client one,O=Acme\, Inc.,C=GB`.
    pub fn parse(text: &str) -> Option<Self> {
        let mut rdns: Vec<Vec<(String, String)>> = Vec::new();
        let mut rdn: Vec<(String, String)> = Vec::new();
        let mut chars = text.chars().peekable();
        loop {
            let mut name = String::new();
            for c in chars.by_ref() {
                if c == '=' {
                    break;
                }
                name.push(c);
            }
            let oid = oid_of(&name)?;
            let mut bytes: Vec<u8> = Vec::new();
            let mut end = None;
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        let next = chars.next()?;
                        if next.is_ascii_hexdigit() {
                            let low = chars.next().filter(char::is_ascii_hexdigit)?;
                            let byte = u8::from_str_radix(&format!("{next}{low}"), 16).ok()?;
                            bytes.push(byte);
                        } else {
                            let mut buf = [0u8; 4];
                            bytes.extend_from_slice(next.encode_utf8(&mut buf).as_bytes());
                        }
                    }
                    ',' | '+' => {
                        end = Some(c);
                        break;
                    }
                    _ => {
                        let mut buf = [0u8; 4];
                        bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    }
                }
            }
            let value = String::from_utf8(bytes).ok()?;
            if value.starts_with('#') || value.trim().is_empty() {
                // BER-encoded values are not supported; empty values match nothing useful.
                return None;
            }
            rdn.push((oid, normalize(&value)));
            match end {
                Some('+') => continue,
                Some(_) => rdns.push(std::mem::take(&mut rdn)),
                None => {
                    rdns.push(rdn);
                    break;
                }
            }
        }
        rdns.reverse();
        for rdn in &mut rdns {
            rdn.sort();
        }
        Some(Self(rdns))
    }

    /// The subject of a DER certificate; `None` if it cannot be parsed or holds a value that is
    /// not a string.
    pub fn of_certificate(der: &[u8]) -> Option<Self> {
        let (_, cert) = X509Certificate::from_der(der).ok()?;
        let mut rdns = Vec::new();
        for rdn in cert.subject().iter() {
            let mut set = Vec::new();
            for attr in rdn.iter() {
                let value = attr.as_str().ok()?;
                set.push((attr.attr_type().to_id_string(), normalize(value)));
            }
            set.sort();
            rdns.push(set);
        }
        Some(Self(rdns))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4514_order_escapes_and_case() {
        let a = DistinguishedName::parse("CN=Client  One,O=Acme\\, Inc.,C=GB").unwrap();
        let b = DistinguishedName::parse("cn=client one, o=ACME\\2c Inc.,c=gb").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.0[0], vec![("2.5.4.6".to_owned(), "gb".to_owned())]);
        assert_ne!(
            a,
            DistinguishedName::parse("C=GB,O=Acme\\, Inc.,CN=Client One").unwrap()
        );
    }

    #[test]
    fn multi_valued_rdns_are_sets() {
        assert_eq!(
            DistinguishedName::parse("CN=a+OU=b,O=c").unwrap(),
            DistinguishedName::parse("OU=b+CN=a,O=c").unwrap()
        );
    }

    #[test]
    fn malformed_names_are_refused() {
        for bad in ["", "CN", "XX=a", "CN=", "CN=#04024869", "CN=a\\"] {
            assert!(DistinguishedName::parse(bad).is_none(), "{bad:?}");
        }
        assert!(DistinguishedName::parse("2.5.4.3=a").is_some());
    }
}
