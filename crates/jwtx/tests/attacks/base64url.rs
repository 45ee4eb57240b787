//! Non-canonical base64url in each of the three segments: `=` padding, the standard alphabet,
//! whitespace anywhere, non-zero trailing bits, impossible lengths and foreign characters. Each is
//! refused, naming the segment.

use super::*;

/// A valid HS256 token whose three segments all have trailing bits and contain `-` or `_`.
fn token() -> String {
    for i in 0..200 {
        let header = format!(
            r#"{{"alg":"HS256","typ":"JWT","h":"{}"}}"#,
            "?>".repeat(i % 7 + 1)
        );
        let payload = format!(
            r#"{{"sub":"alice","exp":{},"p":"{}"}}"#,
            NOW + 900,
            "?>~".repeat(i / 7 % 5 + 1) + &"x".repeat(i / 35)
        );
        let t = hs(&header, &payload);
        let [h, p, s] = parts(&t);
        let ok = |seg: &str| matches!(seg.len() % 4, 2 | 3) && seg.contains(['-', '_']);
        if ok(&h) && ok(&p) && ok(&s) {
            jws_ok(&t, &hs_set());
            return t;
        }
    }
    panic!("no suitable token found");
}

fn segment_error(seg: usize) -> Error {
    Error::Base64 {
        segment: [Segment::Header, Segment::Payload, Segment::Signature][seg],
    }
}

fn with_segment(t: &str, seg: usize, new: &str) -> String {
    let mut p = parts(t);
    p[seg] = new.to_owned();
    p.join(".")
}

const MESSAGES: [&str; 3] = [
    "Invalid header padding",
    "Invalid payload padding",
    "Invalid crypto padding",
];

#[test]
fn padding() {
    let t = token();
    for (seg, message) in MESSAGES.iter().enumerate() {
        let s = &parts(&t)[seg];
        let padded = format!("{s}{}", "=".repeat((4 - s.len() % 4) % 4));
        for bad in [padded, format!("{s}="), format!("{s}=="), format!("{s}===")] {
            let e = jws_err(&with_segment(&t, seg, &bad), &hs_set());
            assert_eq!(e, segment_error(seg), "{seg}: {bad}");
            assert_eq!(e.message(), *message);
        }
    }
}

#[test]
fn standard_alphabet() {
    let t = token();
    for seg in 0..3 {
        let s = &parts(&t)[seg];
        let std = s.replace('-', "+").replace('_', "/");
        assert_ne!(&std, s);
        let e = jws_err(&with_segment(&t, seg, &std), &hs_set());
        assert_eq!(e, segment_error(seg), "{seg}: {std}");
    }
}

#[test]
fn whitespace_anywhere() {
    let t = token();
    for seg in 0..3 {
        let s = &parts(&t)[seg];
        for ws in [" ", "\n", "\r\n", "\t", "\u{a0}", "\u{2028}"] {
            for at in [0, s.len() / 2, s.len()] {
                let bad = format!("{}{ws}{}", &s[..at], &s[at..]);
                let e = jws_err(&with_segment(&t, seg, &bad), &hs_set());
                assert_eq!(e, segment_error(seg), "{seg} {ws:?} at {at}");
            }
        }
    }
    // Around the whole token too.
    for bad in [format!(" {t}"), format!("{t}\n"), format!("{t} ")] {
        assert!(
            matches!(jws_err(&bad, &hs_set()), Error::Base64 { .. }),
            "{bad:?}"
        );
    }
}

#[test]
fn non_zero_trailing_bits() {
    let t = token();
    for seg in 0..3 {
        let s = &parts(&t)[seg];
        let bad = with_trailing_bit(s).unwrap();
        let e = jws_err(&with_segment(&t, seg, &bad), &hs_set());
        assert_eq!(e, segment_error(seg), "{seg}: {bad}");
    }
}

#[test]
fn impossible_length_and_foreign_characters() {
    let t = token();
    for seg in 0..3 {
        let s = &parts(&t)[seg];
        let cut = &s[..s.len() - s.len() % 4 + 1 - 4];
        assert_eq!(cut.len() % 4, 1);
        let e = jws_err(&with_segment(&t, seg, cut), &hs_set());
        assert_eq!(e, segment_error(seg), "{seg}: {cut}");
        for c in ["!", "%3D", "\u{e9}", "\u{0}", "."] {
            if c == "." {
                continue; // a dot is a separator: covered by the segment tests
            }
            let bad = format!("{}{c}{}", &s[..4], &s[4..]);
            let e = jws_err(&with_segment(&t, seg, &bad), &hs_set());
            assert_eq!(e, segment_error(seg), "{seg}: {c:?}");
        }
    }
}
