//! Config parsing and check-time validation of the `sinks:` list.
use super::*;
use crate::runtime::channel::WhenFull;

/// Parses YAML the way pipeline files are loaded (the `config` crate).
fn parse(yaml: &str) -> Result<Vec<SinkConfig>, String> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Doc {
        sinks: Vec<SinkConfig>,
    }
    let c = ::config::Config::builder()
        .add_source(::config::File::from_str(yaml, ::config::FileFormat::Yaml))
        .build()
        .map_err(|e| e.to_string())?;
    serde_path_to_error::deserialize::<_, Doc>(c).map(|d| d.sinks).map_err(|e| format!("{}: {}", e.path(), e.inner()))
}

#[test]
fn every_sink_type_parses_with_defaults() {
    let sinks = parse(
        r#"
sinks:
  - type: stdout
  - type: jsonl
    path: out/events.jsonl
  - type: scores_csv
    dir: out/scores
  - type: events_json
    dir: out/events
  - type: plot
    dir: out/plots
    annotations: data/annotations.txt
  - type: webhook
    url: https://alerts.example/hook
    secret_env: REFINEVAD_WEBHOOK_SECRET
    headers: { X-Api-Key: abc }
    queue: { capacity: 16, when_full: drop_oldest }
"#,
    )
    .unwrap();
    let kinds: Vec<&str> = sinks.iter().map(SinkConfig::kind).collect();
    assert_eq!(kinds, ["stdout", "jsonl", "scores_csv", "events_json", "plot", "webhook"]);
    assert_eq!(sinks[0], SinkConfig::Stdout(StdoutSinkConfig::default()));
    assert_eq!(sinks[1].queue(), &SinkQueueConfig::default());
    assert_eq!(sinks[1].queue().capacity.get(), 1024);
    let SinkConfig::Webhook(w) = &sinks[5] else { panic!() };
    assert_eq!(w.timeout_s, 10.0);
    assert_eq!(w.headers.len(), 1);
    assert_eq!((w.queue.capacity.get(), w.queue.when_full), (16, WhenFull::DropOldest));
}

#[test]
fn unknown_keys_and_types_are_rejected_with_their_path() {
    let e = parse("sinks:\n  - type: jsonl\n    path: a.jsonl\n    flush: true\n").unwrap_err();
    assert!(e.contains("unknown field `flush`"), "{e}");
    let e = parse("sinks:\n  - type: kafka\n").unwrap_err();
    assert!(e.contains("unknown variant `kafka`"), "{e}");
    let e = parse("sinks:\n  - type: webhook\n").unwrap_err();
    assert!(e.contains("missing") && e.contains("url"), "{e}");
}

#[test]
fn validation_names_the_key() {
    let t = tempfile::tempdir().unwrap();
    let file = t.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let hook =
        |url: &str| SinkConfig::Webhook(WebhookSinkConfig { url: url.into(), timeout_s: 10.0, ..Default::default() });
    let ok = SinkConfig::Jsonl(JsonlSinkConfig { path: t.path().join("new/dir/e.jsonl"), queue: Default::default() });
    validate_sinks(&[ok.clone(), hook("https://h.example/x")]).unwrap();
    let err = validate_sinks(&[ok.clone(), hook("alerts/hook")]).unwrap_err();
    assert_eq!(err.to_string(), "sinks[1].url: relative URL without a base");
    let bad_env = SinkConfig::Webhook(WebhookSinkConfig {
        secret_env: Some("1BAD-NAME".into()),
        ..match hook("http://h/") {
            SinkConfig::Webhook(w) => w,
            _ => unreachable!(),
        }
    });
    assert_eq!(validate_sinks(&[bad_env]).unwrap_err().key, "sinks[0].secret_env");
    let under_file = SinkConfig::ScoresCsv(ScoresCsvSinkConfig { dir: file.join("x"), queue: Default::default() });
    let e = validate_sinks(&[ok, under_file]).unwrap_err();
    assert_eq!(e.key, "sinks[1].dir");
    assert!(e.reason.contains("not a directory"), "{e}");
    let missing_truth = SinkConfig::Plot(PlotSinkConfig {
        dir: t.path().into(),
        annotations: Some(t.path().join("nope.txt")),
        queue: Default::default(),
    });
    assert_eq!(validate_sinks(&[missing_truth]).unwrap_err().key, "sinks[0].annotations");
}
