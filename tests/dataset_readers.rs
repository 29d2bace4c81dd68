//! Feature list readers on files written by the test: UCF 10-crop lists, XD names, CSV
//! manifests, extract directories, and the errors for broken data.
use std::path::{Path, PathBuf};

use refinevad::dataset::{load_list, Annotations, CropMode, DatasetError, LoadOptions};
use refinevad::features::layout::{FeatureFileMeta, FeatureLayout};
use refinevad::io::npy::write_f32;

/// Writes a [T, D] matrix whose value encodes (row, col) plus `offset`.
fn npy(path: &Path, t: usize, d: usize, offset: f32) {
    let data: Vec<f32> = (0..t * d).map(|i| (i / d) as f32 * 10.0 + (i % d) as f32 + offset).collect();
    write_f32(path, &[t, d], &data).unwrap();
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn sidecar(npy: &Path, layout: FeatureLayout, t: usize, sf: usize, n_frames: u64) {
    let meta = FeatureFileMeta {
        video: "in.mp4".into(),
        layout,
        snippet_frames: sf,
        fps: 25.0,
        n_frames,
        n_segments: t,
        models: Default::default(),
        image_frames_per_snippet: 2,
        refinevad_version: "0.1.0".into(),
    };
    write(&npy.with_extension("json"), &serde_json::to_string(&meta).unwrap());
}

fn err_of(path: &Path, opts: &LoadOptions) -> String {
    load_list(path, opts).unwrap_err().to_string()
}

#[test]
fn ucf_list_groups_ten_crops() {
    let dir = tempfile::tempdir().unwrap();
    let feats = dir.path().join("UCF_Test_ten_crop_i3d");
    std::fs::create_dir_all(&feats).unwrap();
    let mut list = String::new();
    for v in ["Abuse028_x264", "Normal_Videos_003_x264"] {
        for k in 0..10 {
            npy(&feats.join(format!("{v}__{k}.npy")), 3, 4, k as f32);
            list += &format!("UCF_Test_ten_crop_i3d/{v}__{k}.npy\n");
        }
    }
    // A single [T, 10, D] file (RTFM style, `_i3d` suffix).
    let data: Vec<f32> = (0..3 * 10 * 4).map(|i| ((i / 40) * 10 + i % 4 + (i / 4) % 10) as f32).collect();
    write_f32(&feats.join("Arrest001_x264_i3d.npy"), &[3, 10, 4], &data).unwrap();
    list += "# one file with all crops\n\nUCF_Test_ten_crop_i3d/Arrest001_x264_i3d.npy\n";
    let list_path = dir.path().join("ucf-i3d-test.list");
    write(&list_path, &list);

    let ds = load_list(&list_path, &LoadOptions::default()).unwrap();
    let names: Vec<&str> = ds.videos.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["Abuse028_x264", "Normal_Videos_003_x264", "Arrest001_x264"]);
    assert_eq!(ds.categories, ["Abuse", "Arrest"]);
    assert_eq!(ds.layout, FeatureLayout::external(4));
    let v = &ds.videos[0];
    assert_eq!((v.t, v.d, v.snippet_frames, v.n_frames), (3, 4, 16, None));
    assert_eq!(v.row(1), &[14.5, 15.5, 16.5, 17.5], "mean of crops 0..9 = value + 4.5");
    assert_eq!(ds.videos[1].category, None);
    assert_eq!(ds.videos[2].row(2), &[24.5, 25.5, 26.5, 27.5], "[T,10,D] averaged over axis 1");

    let crop2 = load_list(&list_path, &LoadOptions { crops: CropMode::Index(2), root: None }).unwrap();
    assert_eq!(crop2.videos[0].row(0), &[2.0, 3.0, 4.0, 5.0]);
    assert_eq!(crop2.videos[2].row(0), &[2.0, 3.0, 4.0, 5.0]);
    let e = err_of(&list_path, &LoadOptions { crops: CropMode::Index(12), root: None });
    assert!(
        e.contains("video Abuse028_x264: crop 12 requested but only crops [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] exist"),
        "{e}"
    );

    // The same list resolved against an explicit root.
    let elsewhere = dir.path().join("lists/test.list");
    write(&elsewhere, &list);
    let ds2 = load_list(&elsewhere, &LoadOptions { crops: CropMode::Mean, root: Some(dir.path().into()) }).unwrap();
    assert_eq!(ds2, ds);
    let e = err_of(&elsewhere, &LoadOptions::default());
    assert!(e.contains("test.list:1: feature file") && e.contains("does not exist"), "{e}");
}

#[test]
fn xd_names_and_five_crops() {
    let dir = tempfile::tempdir().unwrap();
    let mut list = String::new();
    for v in ["v=abc__#1_label_B2-0-0", "Movie.2001__#00-01-45_00-02-50_label_A", "x__#2_label_G-B2-B6"] {
        for k in 0..5 {
            let p = dir.path().join(format!("{v}__{k}.npy"));
            npy(&p, 2, 3, k as f32);
            list += &format!("{}\n", p.display());
        }
    }
    let list_path = dir.path().join("xd_test.list");
    write(&list_path, &list);
    let ds = load_list(&list_path, &LoadOptions::default()).unwrap();
    assert_eq!(ds.videos.len(), 3);
    assert_eq!(ds.videos[0].category.as_deref(), Some("Shooting"));
    assert_eq!(ds.videos[1].name, "Movie.2001__#00-01-45_00-02-50_label_A");
    assert_eq!(ds.videos[1].category, None);
    assert_eq!(ds.videos[2].category.as_deref(), Some("Explosion"));
    assert_eq!(ds.videos[0].row(0), &[2.0, 3.0, 4.0], "mean of 5 crops");
    assert_eq!(ds.categories, ["Explosion", "Shooting"]);

    let bad = dir.path().join("y_label_B3-0-0.npy");
    npy(&bad, 2, 3, 0.0);
    write(&list_path, &format!("{list}{}\n", bad.display()));
    let e = err_of(&list_path, &LoadOptions::default());
    assert!(e.contains("xd_test.list:16: unknown category \"B3"), "{e}");
}

#[test]
fn csv_manifest() {
    let dir = tempfile::tempdir().unwrap();
    for n in ["a", "b", "c", "d"] {
        npy(&dir.path().join(format!("f/{n}.npy")), 2, 3, 0.0);
    }
    let csv = dir.path().join("manifest.csv");
    write(&csv, "path,label\nf/a.npy,Fire\nf/b.npy,Normal\nf/c.npy,\nf/d.npy,B1\n");
    let ds = load_list(&csv, &LoadOptions::default()).unwrap();
    let cats: Vec<Option<&str>> = ds.videos.iter().map(|v| v.category.as_deref()).collect();
    assert_eq!(cats, [Some("Fire"), None, None, Some("Fighting")]);
    assert_eq!(ds.categories, ["Fighting", "Fire"]);
    // Header optional.
    write(&csv, "f/a.npy,Fire\n");
    assert_eq!(load_list(&csv, &LoadOptions::default()).unwrap().videos.len(), 1);
    write(&csv, "path,category\nf/a.npy,Fire\nf/b.npy,Car crash\n");
    assert!(err_of(&csv, &LoadOptions::default()).contains("manifest.csv:3: unknown category \"Car crash\""));
    write(&csv, "path,category\nf/a.npy,Fire\nf/a.npy,Fire\n");
    assert!(err_of(&csv, &LoadOptions::default()).contains("video a is given twice"));
}

#[test]
fn extract_dir_with_sidecars_and_labels() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let layout = FeatureLayout::new([("efficientnet_lite0", 2), ("motion", 1)]);
    npy(&out.join("vid1.npy"), 3, 3, 0.0);
    sidecar(&out.join("vid1.npy"), layout.clone(), 3, 8, 20);
    npy(&out.join("cam/vid2.npy"), 2, 3, 0.0);
    sidecar(&out.join("cam/vid2.npy"), layout.clone(), 2, 8, 16);
    write(&out.join("labels.csv"), "video,category\nvid1,Fire\n");
    let ds = load_list(&out, &LoadOptions::default()).unwrap();
    assert_eq!(ds.layout, layout);
    let v1 = ds.get("vid1.mp4").unwrap();
    assert_eq!((v1.category.as_deref(), v1.snippet_frames, v1.n_frames), (Some("Fire"), 8, Some(20)));
    assert_eq!(ds.get("vid2").unwrap().category, None, "unlabelled → normal");

    // Without the labels file both are unlabelled; labels can be applied afterwards.
    std::fs::remove_file(out.join("labels.csv")).unwrap();
    let mut ds = load_list(&out, &LoadOptions::default()).unwrap();
    assert!(ds.categories.is_empty());
    ds.apply_labels(&Annotations::parse("vid2.mp4  Panic  0  7  -1  -1\n", Path::new("l.txt")).unwrap());
    assert_eq!(ds.categories, ["Panic"]);

    // A list of directories works like the directories.
    let list = dir.path().join("dirs.list");
    write(&list, "out\n");
    assert_eq!(load_list(&list, &LoadOptions::default()).unwrap().videos.len(), 2);

    // Sidecar disagreeing with the matrix, and two layouts in one set.
    sidecar(&out.join("cam/vid2.npy"), layout.clone(), 5, 8, 16);
    let e = err_of(&out, &LoadOptions::default());
    assert!(e.contains("vid2.json: sidecar disagrees with the features: n_segments 5"), "{e}");
    sidecar(&out.join("cam/vid2.npy"), FeatureLayout::new([("mc3_18", 3)]), 2, 8, 16);
    let e = err_of(&out, &LoadOptions::default());
    // Files are read in sorted path order: cam/vid2 first.
    assert!(
        e.contains("vid1.npy: feature layout efficientnet_lite0:2+motion:1 differs from layout mc3_18:3 of")
            && e.contains("vid2.npy"),
        "{e}"
    );
    write(&out.join("cam/vid2.json"), "{\"video\": 1}");
    assert!(
        err_of(&out, &LoadOptions::default()).contains("vid2.json: sidecar is not valid refinevad feature metadata")
    );
}

#[test]
fn category_folders_only_when_they_look_like_categories() {
    let dir = tempfile::tempdir().unwrap();
    for p in ["Fire/a.npy", "Training_Normal_Videos/b.npy", "Intrusion/c.npy"] {
        npy(&dir.path().join(p), 2, 3, 0.0);
    }
    let ds = load_list(dir.path(), &LoadOptions::default()).unwrap();
    let cats: Vec<Option<&str>> = ds.videos.iter().map(|v| v.category.as_deref()).collect();
    assert_eq!(cats, [Some("Fire"), Some("Intrusion"), None]);
    // A flat folder is not a category.
    let flat = tempfile::tempdir().unwrap();
    npy(&flat.path().join("feats/x.npy"), 2, 3, 0.0);
    npy(&flat.path().join("feats/y.npy"), 2, 3, 0.0);
    assert!(load_list(&flat.path().join("feats"), &LoadOptions::default()).unwrap().categories.is_empty());
}

#[test]
fn broken_data_gets_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let list = d.join("l.list");
    let load = |lines: &[&Path]| {
        write(&list, &lines.iter().map(|p| format!("{}\n", p.display())).collect::<String>());
        load_list(&list, &LoadOptions::default()).unwrap_err()
    };
    let good = d.join("good.npy");
    npy(&good, 3, 4, 0.0);

    let corrupt = d.join("corrupt.npy");
    std::fs::write(&corrupt, b"definitely not numpy").unwrap();
    let e = load(&[&good, &corrupt]);
    assert!(
        matches!(e, DatasetError::Npy(_))
            && e.to_string().starts_with(&format!("{}: not a .npy file", corrupt.display())),
        "{e}"
    );

    let one_d = d.join("oned.npy");
    write_f32(&one_d, &[5], &[0.0; 5]).unwrap();
    assert!(load(&[&one_d]).to_string().contains("oned.npy: shape [5]; expected [T, D] or [T, crops, D]"));

    let nan = d.join("nan.npy");
    let mut v = vec![0.0f32; 12];
    v[9] = f32::NAN;
    v[11] = f32::INFINITY;
    write_f32(&nan, &[3, 4], &v).unwrap();
    let e = load(&[&good, &nan]).to_string();
    assert!(e.contains("nan.npy: non-finite value NaN at row 2 column 1 (first bad row)"), "{e}");
    let inf3 = d.join("inf3.npy");
    let mut v = vec![0.0f32; 2 * 3 * 4];
    v[17] = f32::NEG_INFINITY;
    write_f32(&inf3, &[2, 3, 4], &v).unwrap();
    assert!(load(&[&inf3]).to_string().contains("inf3.npy: non-finite value -inf at row 1 crop 1 column 1"));

    let wide = d.join("wide.npy");
    npy(&wide, 3, 5, 0.0);
    let e = load(&[&good, &wide]).to_string();
    assert!(e.contains("wide.npy: feature width D=5 differs from D=4 of") && e.contains("good.npy"), "{e}");

    let (c0, c1) = (d.join("v__0.npy"), d.join("v__1.npy"));
    npy(&c0, 3, 4, 0.0);
    npy(&c1, 4, 4, 0.0);
    assert!(load(&[&c0, &c1]).to_string().contains("v__1.npy: 4 segments, but crop file"));

    let missing: PathBuf = d.join("gone.npy");
    assert!(load(&[&good, &missing]).to_string().contains("l.list:2: feature file"));
    let empty = d.join("empty.list");
    write(&empty, "# nothing\n");
    assert!(matches!(load_list(&empty, &LoadOptions::default()), Err(DatasetError::Empty { .. })));
    assert!(load_list(&d.join("nope.list"), &LoadOptions::default()).unwrap_err().to_string().contains("nope.list"));
    let txt = d.join("notes.txt");
    write(&txt, "x");
    assert!(
        load(&[&txt]).to_string().contains("l.list:1:") && load(&[&txt]).to_string().contains("is not a .npy file")
    );
}

#[test]
fn annotation_files_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("Temporal_Anomaly_Annotation.txt");
    write(&p, "Abuse028_x264.mp4  Abuse  165  240  -1  -1\nNormal_Videos_003_x264.mp4  Normal  -1  -1  -1  -1\n");
    let a = Annotations::load(&p).unwrap();
    assert_eq!(a.get("Abuse028_x264__0.npy").unwrap().intervals, vec![(165, 241)]);
    assert_eq!(a.iter().map(|(n, _)| n).collect::<Vec<_>>(), ["Abuse028_x264", "Normal_Videos_003_x264"]);
    assert_eq!(a.path(), p);
    let e = Annotations::load(&dir.path().join("missing.txt")).unwrap_err().to_string();
    assert!(e.contains("missing.txt"), "{e}");
}
