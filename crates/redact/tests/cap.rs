//! `cap_json`: fits, is marked, keeps what matters (log tails, string heads, first items).

use redact::{Capped, MIN_CAP_BYTES, cap_json, compact_json_len};
use serde_json::{Value, json};

const MARK: &str = "truncated by ai-gateway";

fn serialized(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

#[test]
fn a_value_under_the_cap_is_untouched() {
    let v = json!({"ok": true, "items": [1, 2, 3], "text": "hello"});
    let len = compact_json_len(&v);
    for cap in [len, len + 1, 1 << 20] {
        let c = cap_json(v.clone(), cap);
        assert_eq!(
            c,
            Capped {
                value: v.clone(),
                truncated: false,
                original_bytes: len
            }
        );
    }
    // Even below the minimum cap, a value that fits is returned as is.
    assert!(!cap_json(json!(1), 1).truncated);
}

#[test]
fn a_long_plain_string_keeps_its_start() {
    let text: String = (0..5000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let c = cap_json(json!({"result": text.clone()}), 1000);
    let s = c.value["result"].as_str().unwrap_or_default();
    assert!(c.truncated);
    assert!(compact_json_len(&c.value) <= 1000);
    assert!(s.starts_with("abcdefghij"), "{s}");
    assert!(
        s.ends_with(" [… 4048 bytes truncated by ai-gateway …]") || s.contains(MARK),
        "{s}"
    );
    // The marker's count is exact: kept + removed = original.
    let kept = s.split(" [… ").next().unwrap_or_default().len();
    assert!(
        s.contains(&format!("[… {} bytes {MARK} …]", 5000 - kept)),
        "{s}"
    );
    assert_eq!(c.original_bytes, compact_json_len(&json!({"result": text})));
}

#[test]
fn logs_keep_their_newest_lines_from_a_line_start() {
    let log: String = (1..=2000)
        .map(|i| format!("2024-05-01T00:00:00Z line {i}\n"))
        .collect();
    let c = cap_json(json!({"service": "sonarr", "logs": log}), 4096);
    assert!(compact_json_len(&c.value) <= 4096);
    let s = c.value["logs"].as_str().unwrap_or_default();
    let (marker, kept) = s.split_once('\n').unwrap_or_default();
    assert!(
        marker.starts_with("[… ") && marker.ends_with(&format!("{MARK} …]")),
        "{marker}"
    );
    assert!(kept.ends_with("line 2000\n"), "newest line kept");
    assert!(
        kept.starts_with("2024-05-01T00:00:00Z line "),
        "starts at a line: {kept:.60}"
    );
    assert!(!kept.contains("line 1\n"), "oldest line dropped");
    assert_eq!(c.value["service"], "sonarr");
}

#[test]
fn multibyte_text_is_cut_on_char_boundaries() {
    let text = "é✓𝄞\"\\\u{1}".repeat(2000);
    for cap in [256, 300, 1000, 4097] {
        let c = cap_json(json!([text.clone(), text.clone() + "\n" + &text]), cap);
        assert!(compact_json_len(&c.value) <= cap, "cap {cap}");
        assert!(serialized(&c.value).contains(MARK));
    }
}

#[test]
fn many_small_items_truncate_the_array_keeping_the_first() {
    let items: Vec<Value> = (0..1000)
        .map(|i| json!({"name": format!("svc{i}"), "state": "running"}))
        .collect();
    let c = cap_json(json!({"containers": items}), 2000);
    assert!(compact_json_len(&c.value) <= 2000);
    let kept = c.value["containers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(kept.len() > 10, "kept {}", kept.len());
    assert_eq!(kept[0]["name"], "svc0");
    assert_eq!(kept[1]["name"], "svc1");
    let marker = kept.last().and_then(Value::as_str).unwrap_or_default();
    assert_eq!(
        marker,
        format!("[… {} items {MARK} …]", 1000 - (kept.len() - 1))
    );
}

#[test]
fn capping_again_keeps_counts_exact() {
    let items: Vec<Value> = (0..500)
        .map(|i| json!(format!("item number {i}")))
        .collect();
    let first = cap_json(json!(items), 4000);
    let second = cap_json(first.value, 600);
    let kept = second.value.as_array().cloned().unwrap_or_default();
    let marker = kept.last().and_then(Value::as_str).unwrap_or_default();
    assert_eq!(
        marker,
        format!("[… {} items {MARK} …]", 500 - (kept.len() - 1))
    );

    let log: String = (0..300).map(|i| format!("line {i}\n")).collect();
    let once = cap_json(json!(log.clone()), 1500);
    let twice = cap_json(once.value, 400);
    let s = twice.value.as_str().unwrap_or_default();
    let (marker, kept) = s.split_once('\n').unwrap_or_default();
    assert_eq!(
        marker,
        format!("[… {} bytes {MARK} …]", log.len() - kept.len())
    );
}

#[test]
fn tiny_caps_get_the_stub() {
    let v = json!({"big": "x".repeat(10_000)});
    let c = cap_json(v, MIN_CAP_BYTES - 1);
    assert!(c.truncated);
    assert_eq!(c.value["truncated"], true);
    assert_eq!(c.value["original_bytes"], 10_010);
    assert!(compact_json_len(&c.value) < MIN_CAP_BYTES);
}

#[test]
fn the_stub_fits_the_minimum_cap_for_any_size() {
    // An object with many small keys cannot be shrunk by cutting strings or arrays.
    let mut map = serde_json::Map::new();
    for i in 0..5000 {
        map.insert(format!("key{i}"), json!(i));
    }
    let c = cap_json(Value::Object(map), MIN_CAP_BYTES);
    assert!(compact_json_len(&c.value) <= MIN_CAP_BYTES);
    assert_eq!(c.value["truncated"], true);
    assert!(serialized(&c.value).contains(MARK));
}

/// A tiny deterministic generator (xorshift64*), so failures reproduce.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> usize {
        (self.next() % n.max(1)) as usize
    }
    fn string(&mut self) -> String {
        const PIECES: [&str; 10] = [
            "a",
            "line\n",
            "é",
            "𝄞",
            "\"",
            "\\",
            "\u{1}",
            " ",
            "…",
            "[… 3 bytes truncated by ai-gateway …]",
        ];
        let len = match self.below(4) {
            0 => self.below(8),
            1 => self.below(200),
            _ => self.below(3000),
        };
        (0..len)
            .map(|_| PIECES[self.below(PIECES.len() as u64)])
            .collect()
    }
    fn value(&mut self, depth: usize) -> Value {
        // Few enough children per level that a value stays around kilobytes to a few
        // hundred kilobytes: large enough to need cutting, small enough to be quick.
        let kind = if depth >= 4 {
            self.below(4)
        } else {
            self.below(7)
        };
        match kind {
            0 => Value::Null,
            1 => json!(self.below(2) == 0),
            2 => json!(self.next() as i64),
            3 => json!(self.string()),
            4 | 5 => Value::Array((0..self.below(12)).map(|_| self.value(depth + 1)).collect()),
            _ => {
                let mut map = serde_json::Map::new();
                for i in 0..self.below(6) {
                    map.insert(format!("k{i}"), self.value(depth + 1));
                }
                Value::Object(map)
            }
        }
    }
}

#[test]
fn random_values_always_fit_and_are_marked() {
    let mut g = Gen(0x9E37_79B9_7F4A_7C15);
    let (mut cut, mut stubs) = (0, 0);
    for round in 0..400 {
        let v = g.value(0);
        let cap = MIN_CAP_BYTES + g.below(6000);
        let before = compact_json_len(&v);
        let c = cap_json(v.clone(), cap);
        let after = compact_json_len(&c.value);
        assert_eq!(c.original_bytes, before, "round {round}");
        assert_eq!(after, serialized(&c.value).len(), "round {round}");
        if before <= cap {
            assert!(!c.truncated, "round {round}");
            assert_eq!(c.value, v, "round {round}");
        } else {
            cut += 1;
            assert!(c.truncated, "round {round}");
            assert!(after <= cap, "round {round}: {after} > {cap}");
            assert!(serialized(&c.value).contains(MARK), "round {round}");
            if c.value.get("original_bytes").is_some() && c.value.get("note").is_some() {
                stubs += 1;
            }
        }
    }
    eprintln!("{cut} values cut, {stubs} of them to the stub");
    // Shrinking must usually keep content; the stub is the last resort.
    assert!(stubs * 10 < cut, "{stubs} stubs out of {cut}");
    // The generator must actually exercise the cutting paths.
    assert!(cut > 100, "only {cut} values needed cutting");
}
