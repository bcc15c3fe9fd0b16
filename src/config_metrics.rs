//! The `[metrics]` section: where this node's Prometheus metrics are served, apart from
//! the public listener.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use super::{ConfigError, err};

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RawMetrics {
    /// ADDRESS:PORT of a plain-HTTP listener serving `/metrics` (for example
    /// `127.0.0.1:9464`); empty: no metrics listener.
    pub listen: String,
}

/// `None`: metrics are not served.
pub(super) fn metrics_listen(m: &RawMetrics) -> Result<Option<SocketAddr>, ConfigError> {
    match m.listen.trim() {
        "" => Ok(None),
        a => {
            a.parse().map(Some).map_err(|_| err("metrics.listen", format!("expected ADDRESS:PORT or empty, got {a:?}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::RawConfig;

    fn load(text: &str, env: &[(&str, &str)]) -> Result<crate::config::Config, crate::config::ConfigError> {
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        RawConfig::parse(text, env)?.validate()
    }

    #[test]
    fn metrics_are_off_unless_an_address_is_given() {
        assert_eq!(load("", &[]).expect("defaults").metrics_listen, None);
        let file = load("[metrics]\nlisten = \"127.0.0.1:9464\"\n", &[]).expect("file");
        assert_eq!(file.metrics_listen, Some("127.0.0.1:9464".parse().expect("addr")));
        let env =
            load("[metrics]\nlisten = \"127.0.0.1:9464\"\n", &[("PROPUSK_METRICS_LISTEN", "[::1]:9100")]).expect("env");
        assert_eq!(env.metrics_listen, Some("[::1]:9100".parse().expect("addr")));
        let off = load("[metrics]\nlisten = \"127.0.0.1:9464\"\n", &[("PROPUSK_METRICS_LISTEN", "")]).expect("off");
        assert_eq!(off.metrics_listen, None);
        for bad in ["9464", "localhost:9464", "127.0.0.1"] {
            let e = load("", &[("PROPUSK_METRICS_LISTEN", bad)]).expect_err(bad);
            assert_eq!(e.key, "metrics.listen", "{bad}");
        }
        let e = load("[metrics]\naddress = \"127.0.0.1:1\"\n", &[]).expect_err("unknown key");
        assert!(e.to_string().contains("address"), "{e}");
    }
}
