//! The client form: one field per metadata member, read from a posted form or from stored
//! metadata, and turned into `ClientMetadata` for `clients::validate` (so every FAPI rule
//! applies to what an administrator enters, as to every other client).
//!
//! Form fields never repeat (the form parser refuses repeated parameters), so each grant type
//! is its own checkbox (`grant_authorization_code`, …), and the two sender-constraint flags are
//! one radio group (`binding`: either, `dpop` or `mtls`).

use std::collections::BTreeSet;

use portcullis_core::client::{ClientMetadata, GRANT_TYPES};

/// What the form shows and sends: text as typed, so that a refused form comes back unchanged.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct ClientForm {
    pub(crate) client_id: String,
    pub(crate) client_name: String,
    pub(crate) token_endpoint_auth_method: String,
    pub(crate) jwks: String,
    pub(crate) jwks_uri: String,
    pub(crate) tls_client_auth_subject_dn: String,
    pub(crate) tls_client_auth_san_dns: String,
    pub(crate) tls_client_auth_san_uri: String,
    pub(crate) tls_client_auth_san_ip: String,
    pub(crate) tls_client_auth_san_email: String,
    pub(crate) scope: String,
    pub(crate) grant_types: BTreeSet<String>,
    /// One redirect URI per line.
    pub(crate) redirect_uris: String,
    /// `""` (either), `dpop` or `mtls`.
    pub(crate) binding: String,
    pub(crate) access_token_format: String,
    pub(crate) access_token_lifetime: String,
    pub(crate) profile: String,
    pub(crate) resource_server: bool,
    pub(crate) logo_uri: String,
    pub(crate) client_uri: String,
    pub(crate) policy_uri: String,
    pub(crate) tos_uri: String,
    pub(crate) require_signed_request_object: bool,
    pub(crate) id_token_signed_response_alg: String,
    pub(crate) token_endpoint_auth_signing_alg: String,
    pub(crate) request_object_signing_alg: String,
    pub(crate) authorization_signed_response_alg: String,
    pub(crate) userinfo_signed_response_alg: String,
}

/// The signing algorithm members, in the order the form shows them.
pub(crate) const ALG_MEMBERS: [&str; 5] = [
    "id_token_signed_response_alg",
    "token_endpoint_auth_signing_alg",
    "request_object_signing_alg",
    "authorization_signed_response_alg",
    "userinfo_signed_response_alg",
];

fn text(value: &str) -> Option<String> {
    let value = value.trim();
    (!value.is_empty()).then(|| value.to_owned())
}

fn flag(value: bool) -> Option<bool> {
    value.then_some(true)
}

impl ClientForm {
    /// The form of a new client: the authorization code flow with refresh tokens, FAPI 2.0.
    pub(crate) fn new_client() -> Self {
        Self {
            token_endpoint_auth_method: "private_key_jwt".to_owned(),
            grant_types: ["authorization_code", "refresh_token"]
                .map(str::to_owned)
                .into(),
            profile: "fapi2".to_owned(),
            ..Self::default()
        }
    }

    /// The form as posted: `field` gives a posted field's value (`None` when absent or empty).
    pub(crate) fn from_fields<'a>(field: impl Fn(&str) -> Option<&'a str>) -> Self {
        let get = |name: &str| field(name).unwrap_or("").to_owned();
        let on = |name: &str| field(name).is_some();
        Self {
            client_id: get("client_id"),
            client_name: get("client_name"),
            token_endpoint_auth_method: get("token_endpoint_auth_method"),
            jwks: get("jwks"),
            jwks_uri: get("jwks_uri"),
            tls_client_auth_subject_dn: get("tls_client_auth_subject_dn"),
            tls_client_auth_san_dns: get("tls_client_auth_san_dns"),
            tls_client_auth_san_uri: get("tls_client_auth_san_uri"),
            tls_client_auth_san_ip: get("tls_client_auth_san_ip"),
            tls_client_auth_san_email: get("tls_client_auth_san_email"),
            scope: get("scope"),
            grant_types: GRANT_TYPES
                .iter()
                .filter(|g| on(&format!("grant_{g}")))
                .map(|g| (*g).to_owned())
                .collect(),
            redirect_uris: get("redirect_uris"),
            binding: get("binding"),
            access_token_format: get("access_token_format"),
            access_token_lifetime: get("access_token_lifetime"),
            profile: get("profile"),
            resource_server: on("resource_server"),
            logo_uri: get("logo_uri"),
            client_uri: get("client_uri"),
            policy_uri: get("policy_uri"),
            tos_uri: get("tos_uri"),
            require_signed_request_object: on("require_signed_request_object"),
            id_token_signed_response_alg: get("id_token_signed_response_alg"),
            token_endpoint_auth_signing_alg: get("token_endpoint_auth_signing_alg"),
            request_object_signing_alg: get("request_object_signing_alg"),
            authorization_signed_response_alg: get("authorization_signed_response_alg"),
            userinfo_signed_response_alg: get("userinfo_signed_response_alg"),
        }
    }

    /// The form of a stored client.
    pub(crate) fn from_metadata(m: &ClientMetadata) -> Self {
        let s = |v: &Option<String>| v.clone().unwrap_or_default();
        let binding = if m.dpop_bound_access_tokens == Some(true) {
            "dpop"
        } else if m.tls_client_certificate_bound_access_tokens == Some(true) {
            "mtls"
        } else {
            ""
        };
        Self {
            client_id: s(&m.client_id),
            client_name: s(&m.client_name),
            token_endpoint_auth_method: s(&m.token_endpoint_auth_method),
            jwks: m
                .jwks
                .as_ref()
                .and_then(|j| serde_json::to_string_pretty(j).ok())
                .unwrap_or_default(),
            jwks_uri: s(&m.jwks_uri),
            tls_client_auth_subject_dn: s(&m.tls_client_auth_subject_dn),
            tls_client_auth_san_dns: s(&m.tls_client_auth_san_dns),
            tls_client_auth_san_uri: s(&m.tls_client_auth_san_uri),
            tls_client_auth_san_ip: s(&m.tls_client_auth_san_ip),
            tls_client_auth_san_email: s(&m.tls_client_auth_san_email),
            scope: s(&m.scope),
            grant_types: m
                .grant_types
                .clone()
                .unwrap_or_else(|| vec!["authorization_code".to_owned()])
                .into_iter()
                .collect(),
            redirect_uris: m.redirect_uris.clone().unwrap_or_default().join("\n"),
            binding: binding.to_owned(),
            access_token_format: s(&m.access_token_format),
            access_token_lifetime: m
                .access_token_lifetime
                .map(|l| l.to_string())
                .unwrap_or_default(),
            profile: s(&m.profile),
            resource_server: m.resource_server == Some(true),
            logo_uri: s(&m.logo_uri),
            client_uri: s(&m.client_uri),
            policy_uri: s(&m.policy_uri),
            tos_uri: s(&m.tos_uri),
            require_signed_request_object: m.require_signed_request_object == Some(true),
            id_token_signed_response_alg: s(&m.id_token_signed_response_alg),
            token_endpoint_auth_signing_alg: s(&m.token_endpoint_auth_signing_alg),
            request_object_signing_alg: s(&m.request_object_signing_alg),
            authorization_signed_response_alg: s(&m.authorization_signed_response_alg),
            userinfo_signed_response_alg: s(&m.userinfo_signed_response_alg),
        }
    }

    /// The value of an algorithm member (one of [`ALG_MEMBERS`]).
    pub(crate) fn alg(&self, member: &str) -> &str {
        match member {
            "id_token_signed_response_alg" => &self.id_token_signed_response_alg,
            "token_endpoint_auth_signing_alg" => &self.token_endpoint_auth_signing_alg,
            "request_object_signing_alg" => &self.request_object_signing_alg,
            "authorization_signed_response_alg" => &self.authorization_signed_response_alg,
            "userinfo_signed_response_alg" => &self.userinfo_signed_response_alg,
            _ => "",
        }
    }

    /// The metadata the form describes, or what is wrong with the form itself (the rules of
    /// the metadata are `Client::validate`'s). Blank fields are omitted members; no grant type
    /// ticked is an empty `grant_types`, which only a resource server may register.
    pub(crate) fn to_metadata(&self) -> Result<ClientMetadata, &'static str> {
        let jwks =
            match text(&self.jwks) {
                None => None,
                Some(json) => Some(serde_json::from_str(&json).map_err(
                    |_| "jwks is not valid JSON: paste the whole JWK Set, {\"keys\": […]}",
                )?),
            };
        let redirect_uris: Vec<String> = self.redirect_uris.lines().filter_map(text).collect();
        let access_token_lifetime = text(&self.access_token_lifetime)
            .map(|l| l.parse::<i64>())
            .transpose()
            .map_err(|_| "access_token_lifetime must be a whole number of seconds")?;
        let (dpop, mtls) = match self.binding.as_str() {
            "" => (None, None),
            "dpop" => (Some(true), None),
            "mtls" => (None, Some(true)),
            _ => return Err("choose how access tokens are bound"),
        };
        Ok(ClientMetadata {
            client_id: text(&self.client_id),
            client_name: text(&self.client_name),
            token_endpoint_auth_method: text(&self.token_endpoint_auth_method),
            jwks,
            jwks_uri: text(&self.jwks_uri),
            tls_client_auth_subject_dn: text(&self.tls_client_auth_subject_dn),
            tls_client_auth_san_dns: text(&self.tls_client_auth_san_dns),
            tls_client_auth_san_uri: text(&self.tls_client_auth_san_uri),
            tls_client_auth_san_ip: text(&self.tls_client_auth_san_ip),
            tls_client_auth_san_email: text(&self.tls_client_auth_san_email),
            grant_types: Some(self.grant_types.iter().cloned().collect()),
            response_types: None,
            scope: text(&self.scope),
            redirect_uris: (!redirect_uris.is_empty()).then_some(redirect_uris),
            dpop_bound_access_tokens: dpop,
            tls_client_certificate_bound_access_tokens: mtls,
            id_token_signed_response_alg: text(&self.id_token_signed_response_alg),
            token_endpoint_auth_signing_alg: text(&self.token_endpoint_auth_signing_alg),
            require_signed_request_object: flag(self.require_signed_request_object),
            request_object_signing_alg: text(&self.request_object_signing_alg),
            authorization_signed_response_alg: text(&self.authorization_signed_response_alg),
            userinfo_signed_response_alg: text(&self.userinfo_signed_response_alg),
            logo_uri: text(&self.logo_uri),
            client_uri: text(&self.client_uri),
            policy_uri: text(&self.policy_uri),
            tos_uri: text(&self.tos_uri),
            profile: text(&self.profile),
            access_token_format: text(&self.access_token_format),
            access_token_lifetime,
            resource_server: flag(self.resource_server),
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::extract::Params;

    fn params(pairs: &[(&str, &str)]) -> Params {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        Params::parse(body.as_bytes()).unwrap()
    }

    #[test]
    fn a_posted_form_becomes_metadata_with_blank_fields_omitted() {
        let posted = params(&[
            ("client_name", " Budget Planner "),
            ("token_endpoint_auth_method", "private_key_jwt"),
            ("jwks", r#"{"keys": [{"kty": "EC"}]}"#),
            ("jwks_uri", "  "),
            ("grant_client_credentials", "on"),
            ("grant_refresh_token", "on"),
            (
                "redirect_uris",
                "https://a.example/cb\r\n\r\n  https://b.example/cb  \n",
            ),
            ("binding", "dpop"),
            ("access_token_lifetime", "120"),
            ("resource_server", "on"),
        ]);
        let form = ClientForm::from_fields(|name| posted.get(name));
        let m = form.to_metadata().unwrap();
        assert_eq!(m.client_name.as_deref(), Some("Budget Planner"));
        assert_eq!(m.jwks, Some(json!({"keys": [{"kty": "EC"}]})));
        assert_eq!(m.jwks_uri, None);
        assert_eq!(
            m.grant_types,
            Some(vec!["client_credentials".into(), "refresh_token".into()])
        );
        assert_eq!(
            m.redirect_uris,
            Some(vec![
                "https://a.example/cb".into(),
                "https://b.example/cb".into()
            ])
        );
        assert_eq!(
            (
                m.dpop_bound_access_tokens,
                m.tls_client_certificate_bound_access_tokens
            ),
            (Some(true), None)
        );
        assert_eq!(m.access_token_lifetime, Some(120));
        assert_eq!(m.resource_server, Some(true));
        assert_eq!(m.require_signed_request_object, None);
        assert_eq!(m.client_id, None);
    }

    #[test]
    fn form_mistakes_are_named() {
        let mut form = ClientForm::new_client();
        form.jwks = "{not json".into();
        assert!(form.to_metadata().unwrap_err().contains("jwks"));
        let mut form = ClientForm::new_client();
        form.access_token_lifetime = "5 minutes".into();
        assert!(
            form.to_metadata()
                .unwrap_err()
                .contains("access_token_lifetime")
        );
        // No grant type is the empty list, for `Client::validate` to judge (R164: resource
        // servers only).
        let mut form = ClientForm::new_client();
        form.grant_types.clear();
        assert_eq!(form.to_metadata().unwrap().grant_types, Some(Vec::new()));
        let mut form = ClientForm::new_client();
        form.binding = "bearer".into();
        assert!(form.to_metadata().is_err());
    }

    #[test]
    fn stored_metadata_round_trips_through_the_form() {
        let metadata: ClientMetadata = serde_json::from_value(json!({
            "client_id": "c1",
            "client_name": "Budget Planner",
            "token_endpoint_auth_method": "tls_client_auth",
            "tls_client_auth_subject_dn": "CN=client.example,O=Example",
            "grant_types": ["client_credentials"],
            "scope": "accounts",
            "tls_client_certificate_bound_access_tokens": true,
            "access_token_format": "jwt",
            "access_token_lifetime": 300,
            "profile": "fapi2",
            "policy_uri": "https://client.example/privacy",
            "id_token_signed_response_alg": "ES256",
            "require_signed_request_object": true,
        }))
        .unwrap();
        let form = ClientForm::from_metadata(&metadata);
        assert_eq!(form.binding, "mtls");
        assert_eq!(form.alg("id_token_signed_response_alg"), "ES256");
        assert_eq!(form.to_metadata().unwrap(), metadata);
    }
}
