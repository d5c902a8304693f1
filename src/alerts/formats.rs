//! Alert webhooks in the shapes of the tools operators already use: WeCom (企业微信), DingTalk
//! (钉钉) and Feishu (飞书) group robots, Prometheus Alertmanager, or fieldline's own JSON. Pure
//! functions: what to POST where for one alert change, and whether the receiver accepted it
//! (the robots answer HTTP 200 with an error code in the body when they refuse).

use base64::Engine;
use ring::hmac;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::message;

/// The shape a webhook receiver expects.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookFormat {
    /// fieldline's alert JSON (`GET /api/v1/alerts/{id}`'s shape).
    #[default]
    Json,
    /// WeCom group robot: `{"msgtype":"markdown",...}`; answers `{"errcode":0}`.
    Wecom,
    /// DingTalk group robot, signed (加签) when a secret is set; answers `{"errcode":0}`.
    Dingtalk,
    /// Feishu/Lark group robot, signed when a secret is set; answers `{"code":0}`.
    Feishu,
    /// Prometheus Alertmanager's `POST /api/v2/alerts`: an array of alerts with labels.
    Alertmanager,
}

pub use super::message::Language;

/// One request: where and what.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub url: String,
    pub body: Value,
}

/// The request for one alert change (`alert` is the alert's JSON, as the API gives it).
/// `now_ms` stamps the DingTalk and Feishu signatures.
pub fn render(
    format: WebhookFormat,
    url: &str,
    secret: Option<&str>,
    lang: Language,
    alert: &Value,
    now_ms: i64,
) -> Request {
    match format {
        WebhookFormat::Json => Request { url: url.to_string(), body: alert.clone() },
        WebhookFormat::Wecom => Request {
            url: url.to_string(),
            body: json!({"msgtype": "markdown", "markdown": {"content": markdown(alert, lang)}}),
        },
        WebhookFormat::Dingtalk => {
            let url = match secret {
                Some(secret) => {
                    let sign = dingtalk_sign(now_ms, secret);
                    let sep = if url.contains('?') { '&' } else { '?' };
                    let sign: String = form_urlencoded(&sign);
                    format!("{url}{sep}timestamp={now_ms}&sign={sign}")
                }
                None => url.to_string(),
            };
            Request {
                url,
                body: json!({"msgtype": "markdown", "markdown": {"title": title(alert, lang), "text": markdown(alert, lang)}}),
            }
        }
        WebhookFormat::Feishu => {
            let mut body = json!({"msg_type": "text", "content": {"text": plain(alert, lang)}});
            if let Some(secret) = secret {
                let ts = now_ms / 1000;
                body["timestamp"] = json!(ts.to_string());
                body["sign"] = json!(feishu_sign(ts, secret));
            }
            Request { url: url.to_string(), body }
        }
        WebhookFormat::Alertmanager => Request { url: url.to_string(), body: json!([alertmanager(alert, lang)]) },
    }
}

/// Whether the receiver's answer means delivered: a 2xx, and for the robots a zero error code
/// (they answer 200 with `errcode`/`code` when they refuse, e.g. a bad signature or a rate limit).
pub fn accepted(format: WebhookFormat, status: u16, body: &str) -> Result<(), String> {
    if !(200..300).contains(&status) {
        return Err(format!("HTTP {status}"));
    }
    let code = |key: &str| -> Result<(), String> {
        let v: Value = serde_json::from_str(body).map_err(|_| format!("answer is not JSON: {}", clip(body)))?;
        match v.get(key).and_then(Value::as_i64) {
            Some(0) => Ok(()),
            Some(c) => Err(format!("{key} {c}: {}", clip(&v.to_string()))),
            None => Err(format!("answer has no {key}: {}", clip(body))),
        }
    };
    match format {
        WebhookFormat::Wecom | WebhookFormat::Dingtalk => code("errcode"),
        WebhookFormat::Feishu => {
            // Newer Feishu answers {"code":0}; older ones {"StatusCode":0}.
            code("code").or_else(|e| if body.contains("\"StatusCode\":0") { Ok(()) } else { Err(e) })
        }
        WebhookFormat::Json | WebhookFormat::Alertmanager => Ok(()),
    }
}

fn clip(s: &str) -> String {
    s.chars().take(200).collect()
}

/// DingTalk 加签: base64(HMAC-SHA256(key = secret, "{timestamp_ms}\n{secret}")).
pub fn dingtalk_sign(timestamp_ms: i64, secret: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let tag = hmac::sign(&key, format!("{timestamp_ms}\n{secret}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(tag.as_ref())
}

/// Feishu 签名校验: base64(HMAC-SHA256(key = "{timestamp_s}\n{secret}", empty message)).
pub fn feishu_sign(timestamp_s: i64, secret: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, format!("{timestamp_s}\n{secret}").as_bytes());
    let tag = hmac::sign(&key, b"");
    base64::engine::general_purpose::STANDARD.encode(tag.as_ref())
}

fn form_urlencoded(s: &str) -> String {
    serde_urlencoded::to_string([("v", s)]).map(|e| e.trim_start_matches("v=").to_string()).unwrap_or_default()
}

fn text(alert: &Value, key: &str) -> String {
    alert[key].as_str().unwrap_or_default().to_string()
}

/// The alert's sentence in `lang`, from its `message_params`.
fn sentence(alert: &Value, lang: Language) -> String {
    let params = alert["message_params"].as_object();
    let params = ["who", "field", "value", "expected"]
        .into_iter()
        .map(|k| (k, params.and_then(|p| p.get(k)).and_then(Value::as_str).unwrap_or("?").to_string()))
        .collect();
    message::sentence(&text(alert, "kind"), lang, &params)
}

fn state_word(alert: &Value, lang: Language) -> &'static str {
    match (alert["state"].as_str(), lang) {
        (Some("resolved"), Language::Zh) => "已恢复",
        (Some("acknowledged"), Language::Zh) => "已确认",
        (_, Language::Zh) => "告警",
        (Some("resolved"), Language::En) => "RESOLVED",
        (Some("acknowledged"), Language::En) => "ACKNOWLEDGED",
        (_, Language::En) => "ALERT",
    }
}

fn severity_word(alert: &Value, lang: Language) -> &'static str {
    match (alert["severity"].as_str(), lang) {
        (Some("critical"), Language::Zh) => "严重",
        (Some("info"), Language::Zh) => "提示",
        (_, Language::Zh) => "警告",
        (Some("critical"), Language::En) => "critical",
        (Some("info"), Language::En) => "info",
        (_, Language::En) => "warning",
    }
}

fn title(alert: &Value, lang: Language) -> String {
    format!(
        "[{}·{}] {}/{}",
        state_word(alert, lang),
        severity_word(alert, lang),
        text(alert, "site"),
        text(alert, "device")
    )
}

fn markdown(alert: &Value, lang: Language) -> String {
    let (since, label) = match lang {
        Language::Zh => ("开始", "编号"),
        Language::En => ("since", "id"),
    };
    format!(
        "**{}**\n\n{}\n\n> {since}: {}\n> {label}: {}",
        title(alert, lang),
        sentence(alert, lang),
        text(alert, "start"),
        text(alert, "id")
    )
}

fn plain(alert: &Value, lang: Language) -> String {
    format!("{}\n{}\n{}", title(alert, lang), sentence(alert, lang), text(alert, "start"))
}

/// One Alertmanager alert: labels identify the condition (so a resolve replaces its firing),
/// `endsAt` is set once the alert is resolved.
fn alertmanager(alert: &Value, lang: Language) -> Value {
    let mut am = json!({
        "labels": {
            "alertname": format!("fieldline_{}", text(alert, "kind")),
            "severity": text(alert, "severity"),
            "site": text(alert, "site"),
            "device": text(alert, "device"),
            "field": text(alert, "field"),
            "measurement": text(alert, "measurement"),
            "source": "fieldline",
        },
        "annotations": {"summary": sentence(alert, lang), "fieldline_id": text(alert, "id"), "state": text(alert, "state")},
        "startsAt": text(alert, "start"),
    });
    if let Some(resolved) = alert["resolved"].as_str() {
        am["endsAt"] = json!(resolved);
    }
    am
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(state: &str) -> Value {
        json!({
            "id": "1-heze-peony-plot1-air_temp_c-frost", "state": state, "severity": "critical", "kind": "frost",
            "measurement": "peony_plot", "site": "heze-peony", "device": "plot1", "field": "air_temp_c",
            "start": "2026-04-15T15:40:00Z", "resolved": if state == "resolved" { json!("2026-04-15T18:00:00Z") } else { Value::Null },
            "message": "heze-peony/plot1: frost risk, air -3.1 °C during a frost-sensitive stage",
            "message_key": "alert.msg.frost",
            "message_params": {"who": "heze-peony/plot1", "field": "air_temp_c", "value": "-3.1", "expected": "0.0"},
        })
    }

    #[test]
    fn robots_get_chinese_markdown_and_alertmanager_gets_labels() {
        let r = render(WebhookFormat::Wecom, "http://w/send?key=k", None, Language::Zh, &alert("open"), 0);
        let content = r.body["markdown"]["content"].as_str().unwrap_or_default();
        assert!(
            content.contains("heze-peony/plot1：霜冻风险，气温 -3.1 °C") && content.contains("[告警·严重]"),
            "{content}"
        );
        let r = render(WebhookFormat::Feishu, "http://f/hook", None, Language::En, &alert("open"), 0);
        assert!(r.body["content"]["text"].as_str().unwrap_or_default().contains("frost risk, air -3.1"));
        assert!(r.body.get("sign").is_none(), "no secret, no signature");
        let r =
            render(WebhookFormat::Alertmanager, "http://am/api/v2/alerts", None, Language::Zh, &alert("resolved"), 0);
        assert_eq!(r.body[0]["labels"]["alertname"], "fieldline_frost");
        assert_eq!(r.body[0]["endsAt"], "2026-04-15T18:00:00Z");
        let r = render(WebhookFormat::Alertmanager, "http://am/api/v2/alerts", None, Language::Zh, &alert("open"), 0);
        assert!(r.body[0].get("endsAt").is_none());
    }

    #[test]
    fn signed_robots_carry_timestamp_and_signature() {
        let r = render(
            WebhookFormat::Dingtalk,
            "http://d/robot/send?access_token=t",
            Some("SEC1"),
            Language::Zh,
            &alert("open"),
            1_700_000_000_123,
        );
        assert!(r.url.starts_with("http://d/robot/send?access_token=t&timestamp=1700000000123&sign="), "{}", r.url);
        let sign = r.url.rsplit("sign=").next().unwrap_or_default();
        let decoded: String =
            serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("s={sign}")).unwrap()[0].1.clone();
        assert_eq!(decoded, dingtalk_sign(1_700_000_000_123, "SEC1"));
        assert_eq!(base64::engine::general_purpose::STANDARD.decode(&decoded).unwrap().len(), 32);
        let r =
            render(WebhookFormat::Feishu, "http://f/hook", Some("s"), Language::Zh, &alert("open"), 1_700_000_000_999);
        assert_eq!(r.body["timestamp"], "1700000000");
        assert_eq!(r.body["sign"], feishu_sign(1_700_000_000, "s"));
    }

    #[test]
    fn a_robot_refusing_with_http_200_is_not_delivered() {
        assert!(accepted(WebhookFormat::Wecom, 200, r#"{"errcode":0,"errmsg":"ok"}"#).is_ok());
        let e = accepted(WebhookFormat::Dingtalk, 200, r#"{"errcode":310000,"errmsg":"sign not match"}"#).unwrap_err();
        assert!(e.contains("310000"), "{e}");
        assert!(accepted(WebhookFormat::Feishu, 200, r#"{"code":0,"msg":"success"}"#).is_ok());
        assert!(accepted(WebhookFormat::Feishu, 200, r#"{"StatusCode":0}"#).is_ok());
        assert!(accepted(WebhookFormat::Feishu, 200, r#"{"code":19021,"msg":"sign match fail"}"#).is_err());
        assert!(accepted(WebhookFormat::Wecom, 200, "<html>").is_err());
        assert!(accepted(WebhookFormat::Alertmanager, 200, "").is_ok());
        assert!(accepted(WebhookFormat::Json, 503, "").is_err());
    }
}
