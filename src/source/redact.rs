//! Credentials never reach logs, `/healthz`, `/streams` or events: every URI shown
//! anywhere goes through [`redact_uri`].

/// Query keys whose values are secrets (matched case-insensitively, as substrings).
const SECRET_KEYS: [&str; 7] = ["pass", "pwd", "token", "secret", "key", "auth", "sig"];

/// The URI with the password of its user-info and the values of secret-looking query
/// parameters replaced by `***`: `rtsp://admin:hunter2@cam/s?token=x` →
/// `rtsp://admin:***@cam/s?token=***`. Paths and plain file names are returned unchanged.
pub fn redact_uri(uri: &str) -> String {
    let Some(scheme_end) = uri.find("://") else { return uri.to_owned() };
    let (scheme, rest) = uri.split_at(scheme_end + 3);
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let mut out = String::with_capacity(uri.len());
    out.push_str(scheme);
    match authority.rfind('@') {
        Some(at) => {
            let (userinfo, host) = authority.split_at(at);
            match userinfo.split_once(':') {
                Some((user, _)) => out.push_str(&format!("{user}:***")),
                None => out.push_str(userinfo),
            }
            out.push_str(host);
        }
        None => out.push_str(authority),
    }
    match tail.split_once('?') {
        Some((path, query)) => {
            out.push_str(path);
            out.push('?');
            let (query, fragment) = query.split_once('#').map_or((query, None), |(q, f)| (q, Some(f)));
            let redacted: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((k, _)) if is_secret(k) => format!("{k}=***"),
                    _ => pair.to_owned(),
                })
                .collect();
            out.push_str(&redacted.join("&"));
            if let Some(f) = fragment {
                out.push('#');
                out.push_str(f);
            }
        }
        None => out.push_str(tail),
    }
    out
}

fn is_secret(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    SECRET_KEYS.iter().any(|s| k.contains(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hides_passwords_and_secret_query_values() {
        assert_eq!(redact_uri("rtsp://admin:hunter2@10.0.0.5:554/s1"), "rtsp://admin:***@10.0.0.5:554/s1");
        assert_eq!(redact_uri("rtsp://admin@cam/s1"), "rtsp://admin@cam/s1");
        assert_eq!(redact_uri("rtsp://a:b:c@cam"), "rtsp://a:***@cam");
        assert_eq!(
            redact_uri("https://u:p@cam/x.m3u8?user=bob&password=x&Token=y&fps=5#t"),
            "https://u:***@cam/x.m3u8?user=bob&password=***&Token=***&fps=5#t"
        );
        // `@` in the path is not user-info.
        assert_eq!(redact_uri("http://cam/a@b?c=d"), "http://cam/a@b?c=d");
        assert_eq!(redact_uri("/data/clips/a:b@c.mp4"), "/data/clips/a:b@c.mp4");
        assert_eq!(redact_uri("file:///data/x.mp4"), "file:///data/x.mp4");
    }

    #[test]
    fn never_contains_the_secret() {
        for uri in ["rtsp://u:s3cr3t@h/p", "http://h/p?pwd=s3cr3t", "rtsps://u:s3cr3t@h:1/p?apikey=s3cr3t"] {
            assert!(!redact_uri(uri).contains("s3cr3t"), "{uri}");
        }
    }
}
