//! capfast writes the `mime` field of `_cap/index.cbor` from a table (python/capfast/cap/mime_table.py) so that its
//! index bytes equal the reference builder's. The reference asks mime_guess 2.0.5; this test asks the same crate
//! about every extension it knows and requires the table to give the same answer, and to know nothing else.

use std::collections::BTreeMap;

fn table() -> BTreeMap<String, String> {
    let source = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../python/capfast/cap/mime_table.py"
    ));
    let mut out = BTreeMap::new();
    for line in source.lines() {
        // rows look like:     "ext": "type/subtype",
        let Some(row) = line.strip_prefix("    \"").and_then(|r| r.strip_suffix("\",")) else {
            continue;
        };
        let (ext, mime) = row.split_once("\": \"").expect("row of the form \"ext\": \"mime\",");
        assert!(
            out.insert(ext.to_owned(), mime.to_owned()).is_none(),
            "extension {ext} twice"
        );
    }
    out
}

#[test]
fn table_equals_mime_guess_2_0_5() {
    let ours = table();
    let mut exts: Vec<&str> = mime_guess::get_mime_extensions_str("*/*")
        .expect("rev-mappings")
        .to_vec();
    exts.sort_unstable();
    exts.dedup();
    let mut theirs = BTreeMap::new();
    for ext in exts {
        if let Some(m) = mime_guess::from_ext(ext).first() {
            theirs.insert(ext.to_owned(), m.to_string());
        }
    }
    assert!(theirs.len() > 1000, "mime_guess knows {} extensions", theirs.len());
    for (ext, mime) in &theirs {
        assert_eq!(ours.get(ext), Some(mime), "extension {ext}");
    }
    for ext in ours.keys() {
        assert!(theirs.contains_key(ext), "extension {ext} is not in mime_guess 2.0.5");
    }
}

#[test]
fn lookup_is_case_insensitive_in_the_crate_too() {
    // capfast looks an extension up case-insensitively; so does the crate (the reference's `from_path`).
    for (ext, mime) in [
        ("PDF", "application/pdf"),
        ("Mp4", "video/mp4"),
        ("YAML", "text/x-yaml"),
        ("woff", "application/font-woff"),
    ] {
        assert_eq!(
            mime_guess::from_ext(ext).first().map(|m| m.to_string()).as_deref(),
            Some(mime)
        );
        assert_eq!(table().get(&ext.to_ascii_lowercase()).map(String::as_str), Some(mime));
    }
    assert!(mime_guess::from_path("ui/.htaccess").first().is_none());
    assert!(mime_guess::from_path("ui/data.").first().is_none());
    assert_eq!(
        mime_guess::from_path("ui/App.JS")
            .first()
            .map(|m| m.to_string())
            .as_deref(),
        Some("text/javascript")
    );
}
