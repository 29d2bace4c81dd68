//! Metrics against scikit-learn reference values (tests/fixtures/eval/sklearn_reference.json,
//! written once by scripts/make_eval_fixtures.py; CI needs no Python).
use std::path::Path;

use refinevad::dataset::Annotations;
use refinevad::eval::{average_precision, evaluate, roc_auc, EvalError, VideoPrediction};
use serde_json::Value;

fn fixture() -> Value {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/eval/sklearn_reference.json");
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap()
}

fn f32s(v: &Value) -> Vec<f32> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

fn close(a: f64, b: f64, what: &str) {
    assert!((a - b).abs() < 1e-9, "{what}: {a} vs sklearn {b}");
}

#[test]
fn roc_auc_and_ap_match_sklearn() {
    let f = fixture();
    let cases = f["metrics"].as_array().unwrap();
    assert!(cases.len() >= 10);
    for c in cases {
        let name = c["name"].as_str().unwrap();
        let y: Vec<bool> = c["labels"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap() == 1).collect();
        let s = f32s(&c["scores"]);
        match c["roc_auc"].as_f64() {
            Some(r) => close(roc_auc(&y, &s), r, &format!("{name} roc_auc")),
            None => assert!(roc_auc(&y, &s).is_nan(), "{name}: one class → NaN (sklearn: nan + warning)"),
        }
        close(average_precision(&y, &s), c["average_precision"].as_f64().unwrap(), &format!("{name} ap"));
    }
}

fn protocol_preds(p: &Value) -> Vec<VideoPrediction> {
    p["videos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| VideoPrediction {
            name: v["name"].as_str().unwrap().into(),
            scores: f32s(&v["scores"]),
            snippet_frames: v["snippet_frames"].as_u64().unwrap() as usize,
            n_frames: v["n_frames"].as_u64(),
            category_probs: Some(f32s(&v["category_probs"])),
            categories: v["categories"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().into()).collect(),
            true_category: None,
        })
        .collect()
}

#[test]
fn protocol_matches_reference() {
    let f = fixture();
    let p = &f["protocol"];
    let ann = Annotations::parse(p["annotations_text"].as_str().unwrap(), Path::new("fixture.txt")).unwrap();
    let preds = protocol_preds(p);
    let m = evaluate(&preds, &ann).unwrap();
    let e = &p["expected"];
    close(m.auc, e["auc"].as_f64().unwrap(), "auc");
    close(m.ap, e["ap"].as_f64().unwrap(), "ap");
    close(m.auc_abnormal.unwrap(), e["auc_abnormal"].as_f64().unwrap(), "auc_abnormal");
    close(m.far.unwrap(), e["far"].as_f64().unwrap(), "far");
    close(m.category_accuracy.unwrap(), e["category_accuracy"].as_f64().unwrap(), "category_accuracy");
    assert_eq!(m.n_frames, e["n_frames"].as_u64().unwrap());
    assert_eq!(m.n_anomalous_frames, e["n_anomalous_frames"].as_u64().unwrap());
    let want: Vec<(f64, f64)> =
        e["map_iou"].as_array().unwrap().iter().map(|x| (x[0].as_f64().unwrap(), x[1].as_f64().unwrap())).collect();
    assert_eq!(m.map_iou.len(), 5);
    for ((t, v), (wt, wv)) in m.map_iou.iter().zip(&want) {
        close(*t, *wt, "iou threshold");
        close(*v, *wv, &format!("mAP@{t}"));
    }
    close(m.map_avg.unwrap(), e["map_avg"].as_f64().unwrap(), "map_avg");
    assert_eq!(m.n_videos, 8);
    assert_eq!((m.n_abnormal_videos, m.n_normal_videos), (5, 3), "XD label_A video absent from the file is normal");
    let line = m.summary_line();
    assert!(line.starts_with(&format!("AUC={:.2} AP={:.2} AUC_A=", m.auc, m.ap)), "{line}");
    assert!(line.contains(&format!("FAR={:.4} CAT=80.00", m.far.unwrap())), "{line}");
}

#[test]
fn protocol_edge_cases_give_clear_errors() {
    let f = fixture();
    let p = &f["protocol"];
    let ann = Annotations::parse(p["annotations_text"].as_str().unwrap(), Path::new("fixture.txt")).unwrap();
    let preds = protocol_preds(p);

    // Only normal videos: AUC undefined.
    let normals: Vec<_> = preds.iter().filter(|v| v.name.contains("Normal")).cloned().collect();
    let err = evaluate(&normals, &ann).unwrap_err();
    assert!(matches!(err, EvalError::OneClass { class: "normal", .. }), "{err}");

    // Only anomalous videos: AUC defined within them, FAR not available.
    let anom: Vec<_> =
        preds.iter().filter(|v| !v.name.contains("Normal") && !v.name.contains("label_A")).cloned().collect();
    let m = evaluate(&anom, &ann).unwrap();
    assert!(m.far.is_none());
    assert!(m.summary_line().contains("FAR=n/a"));

    // A video unknown to the annotations (and not normal by name).
    let mut extra = preds.clone();
    extra[0].name = "Mystery001".into();
    let err = evaluate(&extra, &ann).unwrap_err().to_string();
    assert!(err.contains("Mystery001") && err.contains("fixture.txt"), "{err}");

    // True category not among the head's categories.
    let mut cats = preds.clone();
    for v in &mut cats {
        v.categories[0] = "Other".into();
    }
    let err = evaluate(&cats, &ann).unwrap_err().to_string();
    assert!(err.starts_with("fixture.txt: video Abuse001_x264 has category \"Abuse\""), "{err}");

    // NaN scores and duplicates.
    let mut bad = preds.clone();
    bad[2].scores[1] = f32::NAN;
    assert!(evaluate(&bad, &ann).unwrap_err().to_string().contains("clip_fire: non-finite score NaN at segment 1"));
    let mut dup = preds.clone();
    dup.push(dup[0].clone());
    assert!(matches!(evaluate(&dup, &ann), Err(EvalError::DuplicateVideo { .. })));

    // No category head: mAP and CAT not available, the rest unchanged.
    let plain: Vec<_> = preds
        .iter()
        .cloned()
        .map(|mut v| {
            v.category_probs = None;
            v
        })
        .collect();
    let m = evaluate(&plain, &ann).unwrap();
    assert!(m.category_accuracy.is_none() && m.map_avg.is_none() && m.map_iou.is_empty());
    assert!(m.summary_line().ends_with("CAT=n/a"));
}
