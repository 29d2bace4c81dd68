//! Video ids and categories derived from file names, shared by feature lists,
//! annotation files and score files so that all three agree on what "the same video" is.
//!
//! Matching rule (documented in one place): a video id is the file name with known
//! extensions stripped (`.npy`, `.json`, `.scores.csv`, common video containers), then a
//! crop suffix `__<digits>` stripped (UCF-Crime 10-crop `__0..__9`, XD-Violence 5-crop
//! `__0..__4`), then an `_i3d` suffix stripped (RTFM-style I3D lists). Directory parts are
//! ignored. So `feat/Abuse028_x264__3.npy`, `Abuse028_x264.mp4` and
//! `Abuse028_x264.scores.csv` are all video `Abuse028_x264`.

/// Extensions removed from the end of a name (case-insensitive), longest first.
const EXTENSIONS: &[&str] = &[
    ".scores.csv",
    ".npy",
    ".json",
    ".mp4",
    ".avi",
    ".mkv",
    ".mov",
    ".webm",
    ".m4v",
    ".mpg",
    ".mpeg",
    ".wmv",
    ".flv",
    ".ts",
    ".csv",
    ".txt",
];

/// XD-Violence label codes → category names. `A` is normal. Names are identifier-safe
/// (`CarAccident`, not "Car accident") because they become `p_<Category>` CSV columns.
pub const XD_CODES: &[(&str, Option<&str>)] = &[
    ("A", None),
    ("B1", Some("Fighting")),
    ("B2", Some("Shooting")),
    ("B4", Some("Riot")),
    ("B5", Some("Abuse")),
    ("B6", Some("CarAccident")),
    ("G", Some("Explosion")),
];

/// The last path component of `s` (either separator).
pub fn file_name(s: &str) -> &str {
    s.rsplit(['/', '\\']).next().unwrap_or(s)
}

/// Strips known extensions; repeated so `x.mp4.npy` becomes `x`.
pub fn strip_extensions(name: &str) -> &str {
    let mut n = name;
    'outer: loop {
        for ext in EXTENSIONS {
            if n.len() > ext.len() && n[n.len() - ext.len()..].eq_ignore_ascii_case(ext) {
                n = &n[..n.len() - ext.len()];
                continue 'outer;
            }
        }
        return n;
    }
}

/// Splits a crop suffix `__<digits>` off an extension-free stem.
pub fn split_crop(stem: &str) -> (&str, Option<usize>) {
    if let Some(i) = stem.rfind("__") {
        let digits = &stem[i + 2..];
        if !digits.is_empty() && digits.len() <= 3 && digits.bytes().all(|b| b.is_ascii_digit()) {
            return (&stem[..i], digits.parse().ok());
        }
    }
    (stem, None)
}

/// The video id of a path or name (see the module docs) and its crop index, if any.
pub fn video_id_and_crop(path_or_name: &str) -> (String, Option<usize>) {
    let stem = strip_extensions(file_name(path_or_name.trim()));
    let (base, crop) = split_crop(stem);
    let base = base.strip_suffix("_i3d").filter(|b| !b.is_empty()).unwrap_or(base);
    (base.to_owned(), crop)
}

/// The video id of a path or name (see the module docs).
pub fn video_id(path_or_name: &str) -> String {
    video_id_and_crop(path_or_name).0
}

/// Category from an XD-Violence name (`..._label_B2-0-0`): `None` when the name carries no
/// `_label_` part, `Some(Ok(None))` for normal (`A`), `Some(Err(code))` for an unknown code.
/// Multi-label names (`G-B2-B6`) take the first code, as the XD-Violence papers do.
pub fn xd_category(id: &str) -> Option<Result<Option<&'static str>, String>> {
    let i = id.rfind("label_")?;
    let code = id[i + "label_".len()..].split('-').next().unwrap_or("");
    Some(XD_CODES.iter().find(|(c, _)| *c == code).map(|(_, cat)| *cat).ok_or_else(|| code.to_owned()))
}

/// Maps an XD label code (`B1`, `B2-0-0`, `A`) used as a category value to a category.
pub fn xd_code_category(value: &str) -> Option<Option<&'static str>> {
    let code = value.split('-').next().unwrap_or("");
    XD_CODES.iter().find(|(c, _)| *c == code).map(|(_, cat)| *cat)
}

/// Category from a UCF-Crime file stem: `Normal…` → normal, `Abuse028_x264` → `Abuse`
/// (leading letters followed by digits and `_x264`). `None` when neither pattern matches.
pub fn ucf_category(id: &str) -> Option<Option<String>> {
    if id.starts_with("Normal") {
        return Some(None);
    }
    let letters = id.bytes().take_while(u8::is_ascii_alphabetic).count();
    let rest = &id[letters..];
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    (letters > 0 && digits > 0 && rest[digits..].starts_with("_x264")).then(|| Some(id[..letters].to_owned()))
}

/// True for words meaning "no anomaly" in category columns and folder names.
pub fn is_normal_word(s: &str) -> bool {
    let l = s.trim().to_ascii_lowercase();
    l.is_empty() || l == "none" || l.contains("normal")
}

/// A category value must be usable as a CSV column suffix and a CLI word.
pub fn valid_category(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic())
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_strip_extensions_crops_and_i3d() {
        assert_eq!(video_id_and_crop("/a/b/Abuse028_x264__3.npy"), ("Abuse028_x264".into(), Some(3)));
        assert_eq!(video_id("Abuse028_x264.mp4"), "Abuse028_x264");
        assert_eq!(video_id("Abuse028_x264_i3d.npy"), "Abuse028_x264");
        assert_eq!(video_id("vtest.scores.csv"), "vtest");
        let xd = "A.Beautiful.Mind.2001__#00-01-45_00-02-50_label_A";
        assert_eq!(video_id_and_crop(&format!("{xd}__4.npy")), (xd.into(), Some(4)));
        assert_eq!(video_id(xd), xd, "dots inside XD names are not extensions");
        assert_eq!(video_id("v=abc__#1_label_B2-0-0"), "v=abc__#1_label_B2-0-0");
    }

    #[test]
    fn categories_from_names() {
        assert_eq!(xd_category("x_label_B2-0-0"), Some(Ok(Some("Shooting"))));
        assert_eq!(xd_category("x_label_G-B2-B6"), Some(Ok(Some("Explosion"))));
        assert_eq!(xd_category("x_label_A"), Some(Ok(None)));
        assert_eq!(xd_category("x_label_B3-0-0"), Some(Err("B3".into())));
        assert_eq!(xd_category("Abuse028_x264"), None);
        assert_eq!(ucf_category("Abuse028_x264"), Some(Some("Abuse".into())));
        assert_eq!(ucf_category("RoadAccidents001_x264"), Some(Some("RoadAccidents".into())));
        assert_eq!(ucf_category("Normal_Videos_003_x264"), Some(None));
        assert_eq!(ucf_category("vtest"), None);
        assert_eq!(xd_code_category("B6"), Some(Some("CarAccident")));
        assert!(valid_category("RoadAccidents") && !valid_category("3x") && !valid_category("a b"));
    }
}
