use super::*;
use testkit::Rng;

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"))
}

/// The regex accepts every path of `yes` and none of `no`.
fn check(pattern: &str, yes: &[&str], no: &[&str]) {
    let r = re(pattern);
    for path in yes {
        assert!(r.is_full_match(path), "{pattern} should match {path:?}");
    }
    for path in no {
        assert!(!r.is_full_match(path), "{pattern} should not match {path:?}");
    }
}

fn refused(pattern: &str) -> Error {
    match Regex::new(pattern) {
        Ok(_) => panic!("{pattern} was accepted"),
        Err(e) => e,
    }
}

#[test]
fn the_whole_path_must_match() {
    check("/users/[0-9]+", &["/users/1", "/users/42"], &["/users/", "/users/42/x", "x/users/42", ""]);
    // Leftmost-first `find` would stop at `a`; a full match tries every alternative.
    check("a|ab", &["a", "ab"], &["", "b", "abb"]);
    check("(?:a|ab)(?:c|bcd)", &["ac", "abcd", "abc"], &["abcdx", "a"]);
    check("/api/.*", &["/api/", "/api/x/y"], &["/api"]);
}

#[test]
fn literals_and_escapes() {
    check("/a.b", &["/a.b", "/axb", "/aéb"], &["/a\nb", "/ab"]);
    check(r"/a\.b", &["/a.b"], &["/axb"]);
    check(r"\/\-\\\*\+\?\(\)\[\]\{\}\|\^\$\.", &[r"/-\*+?()[]{}|^$."], &["x"]);
    check(r"\_\#\&\~\<\>\%", &["_#&~<>%"], &[]);
    check("/é/€ ok}]", &["/é/€ ok}]"], &["/e/€ ok}]"]);
}

#[test]
fn perl_classes_are_ascii_as_in_re2() {
    check(r"\d+", &["0123456789"], &["a", "٣", ""]);
    check(r"\w+", &["azAZ09_"], &["-", "é"]);
    check(r"\s+", &[" \t\n\r\x0c"], &["\x0b", "a"]);
    check(r"\D\W\S", &["a-é", "é\né"], &["1-a", "a_a", "a- "]);
}

#[test]
fn bracket_classes() {
    check("[a-c_.]+", &["abc_.", "."], &["d", "-"]);
    check("[^/]+", &["abc", "é\n"], &["a/b"]);
    check(r"[\d\-x]+", &["1-x"], &["y"]);
    check(r"[^\d\s]", &["a"], &["1", " "]);
    check(r"[\D]", &["a", "é"], &["5"]);
    check(r"[-a]+[b-]+", &["-ab-"], &[]);
    check(r"[\]\[\\]+", &[r"][\"], &["a"]);
    check(r"[\--/]", &["-", ".", "/"], &[","]);
    check("[é-ë]", &["é", "ê", "ë"], &["e", "ì"]);
    check("[a-a]", &["a"], &["b"]);
    check("[}{)(|*+?.$^]+", &["}{)(|*+?.$"], &[]);
    check("[a^]", &["^", "a"], &["b"]);
    // Ranges out of order, overlapping or adjacent are merged (membership is a binary search).
    check("[x-zc-ea-db]+", &["abcde", "xyz"], &["f", "w"]);
    check("[^c-ea-b]", &["f", "é"], &["a", "c", "e"]);
    let many: String = ('\u{4e00}'..='\u{5200}').rev().step_by(2).collect();
    let odd = char::from_u32(0x4e01).unwrap_or('a');
    check(&format!("[{many}]"), &["\u{4e00}", "\u{5200}"], &["a", &odd.to_string()]);
}

#[test]
fn groups_and_alternation() {
    check("/(users|groups)/[0-9]+", &["/users/1", "/groups/2"], &["/user/1"]);
    check("/(?:a|b|c)(?P<id>[0-9]+)(?<rest>/.*)?", &["/a1", "/c22/x", "/b3/"], &["/d1", "/a", "/a1x"]);
    check("a|b|c", &["a", "b", "c"], &["ab"]);
    check("((((a))))", &["a"], &["aa"]);
    check("(a|b)*c", &["c", "abbac"], &["abba"]);
}

#[test]
fn quantifiers() {
    check("a*", &["", "aaa"], &["b"]);
    check("a+", &["a", "aa"], &[""]);
    check("ab?c", &["ac", "abc"], &["abbc"]);
    check("a{3}", &["aaa"], &["aa", "aaaa"]);
    check("a{2,}", &["aa", "aaaaa"], &["a"]);
    check("a{1,3}", &["a", "aaa"], &["", "aaaa"]);
    check("a{0}b", &["b"], &["ab"]);
    check("a{0,0}", &[""], &["a"]);
    check("a*?b+?c??d{1,2}?e{2}?f{1,}?", &["bdeef", "aabbcddeeff"], &["bdef"]);
    check("[0-9a-f]{8}-[0-9a-f]{4}", &["0123abcd-ef01"], &["0123abc-ef01"]);
    check("(?:/[^/]+){2,3}", &["/a/b", "/a/b/c"], &["/a", "/a/b/c/d", "/a//b"]);
}

#[test]
fn empty_loops_end() {
    check("(a*)*", &["", "aaaa"], &["b"]);
    check("(a*|b?)+c", &["c", "abbac"], &["ab"]);
    check("(?:(?:a*)*)*b", &["b", "aab"], &["aa"]);
    check("(a?){0,}", &["", "a", "aa"], &["b"]);
}

#[test]
fn anchors_at_the_ends_change_nothing() {
    check("^/a$", &["/a"], &["/ab"]);
    check("^/a|^/b$|/c$", &["/a", "/b", "/c"], &["/d"]);
    check(r"/a\$", &["/a$"], &["/a"]);
    check("^^/a", &["/a"], &[]);
}

#[test]
fn long_paths_take_linear_time() {
    // A backtracking matcher takes exponential time on these; this takes microseconds.
    let path = "a".repeat(20_000);
    assert!(!re("(a*)*b").is_full_match(&path));
    assert!(!re("(a|a)*(a|a)*(a|a)*b").is_full_match(&path));
    assert!(re("(?:a?){30}a{30}.*").is_full_match(&path));
    assert!(!re("(?:a?){30}a{30}").is_full_match(&"a".repeat(29)));
}

#[test]
fn refusals_say_why_and_where() {
    let cases: &[(&str, &str, Option<usize>)] = &[
        ("", EMPTY_REGEX, None),
        ("^$", EMPTY_REGEX, None),
        ("a()", EMPTY_GROUP, Some(2)),
        ("(?:)", EMPTY_GROUP, Some(3)),
        ("a|", EMPTY_ALTERNATIVE, Some(2)),
        ("|a", EMPTY_ALTERNATIVE, Some(0)),
        ("(a||b)", EMPTY_ALTERNATIVE, Some(3)),
        ("(a|)", EMPTY_ALTERNATIVE, Some(3)),
        ("a(b(c)", UNCLOSED_GROUP, Some(1)),
        ("a)", UNMATCHED_CLOSE, Some(1)),
        ("(?i)abc", GROUP_SYNTAX, Some(0)),
        ("(?i:abc)", GROUP_SYNTAX, Some(0)),
        ("(?x)a", GROUP_SYNTAX, Some(0)),
        ("(?P=n)", GROUP_SYNTAX, Some(0)),
        ("(?", GROUP_SYNTAX, Some(0)),
        ("a(?=b)", LOOKAROUND, Some(1)),
        ("a(?!b)", LOOKAROUND, Some(1)),
        ("(?<=a)b", LOOKAROUND, Some(0)),
        ("(?<!a)b", LOOKAROUND, Some(0)),
        ("(?P<>a)", GROUP_NAME, Some(0)),
        ("(?<1a>a)", GROUP_NAME, Some(0)),
        ("(?P<a-b>a)", GROUP_NAME, Some(0)),
        ("(?P<a", GROUP_NAME, Some(0)),
        ("(?P<n>a)(?<n>b)", DUPLICATE_NAME, Some(8)),
        ("*a", NOTHING_TO_REPEAT, Some(0)),
        ("a|+", NOTHING_TO_REPEAT, Some(2)),
        ("(?)", GROUP_SYNTAX, Some(0)),
        ("(*)", NOTHING_TO_REPEAT, Some(1)),
        ("^*", NOTHING_TO_REPEAT, Some(1)),
        ("{2}", NOTHING_TO_REPEAT, Some(0)),
        ("a**", DOUBLE_QUANTIFIER, Some(2)),
        ("a+*", DOUBLE_QUANTIFIER, Some(2)),
        ("a{2}{3}", DOUBLE_QUANTIFIER, Some(4)),
        ("a???", DOUBLE_QUANTIFIER, Some(3)),
        ("a{", BAD_COUNTS, Some(1)),
        ("a{}", BAD_COUNTS, Some(1)),
        ("a{,3}", BAD_COUNTS, Some(1)),
        ("a{1,2", BAD_COUNTS, Some(1)),
        ("a{x}", BAD_COUNTS, Some(1)),
        ("/users/{id}", BAD_COUNTS, Some(7)),
        ("a{1001}", COUNT_TOO_LARGE, Some(1)),
        ("a{0,1001}", COUNT_TOO_LARGE, Some(1)),
        ("a{99999999999999999999}", COUNT_TOO_LARGE, Some(1)),
        ("a{3,2}", COUNTS_REVERSED, Some(1)),
        ("a^b", CARET, Some(1)),
        ("(^a)", CARET, Some(1)),
        ("a$b", DOLLAR, Some(1)),
        ("(a$)", DOLLAR, Some(2)),
        ("a\\", TRAILING_BACKSLASH, Some(1)),
        (r"(a)\1", BACKREFERENCE, Some(3)),
        (r"\bword\b", ASSERTION, Some(0)),
        (r"a\B", ASSERTION, Some(1)),
        (r"\Aa\z", ASSERTION, Some(0)),
        (r"\pL", UNICODE_CLASS, Some(0)),
        (r"\p{Greek}", UNICODE_CLASS, Some(0)),
        (r"[\P{L}]", UNICODE_CLASS, Some(1)),
        (r"\x41", BAD_ESCAPE, Some(0)),
        (r"\n", BAD_ESCAPE, Some(0)),
        (r"\é", BAD_ESCAPE, Some(0)),
        (r"\ ", BAD_ESCAPE, Some(0)),
        ("[a-z", UNCLOSED_CLASS, Some(0)),
        ("[a-", UNCLOSED_CLASS, Some(0)),
        ("[", UNCLOSED_CLASS, Some(0)),
        ("[]a]", EMPTY_CLASS, Some(1)),
        ("[^]", EMPTY_CLASS, Some(2)),
        ("[[:alpha:]]", BRACKET_IN_CLASS, Some(1)),
        ("[a-[]", BRACKET_IN_CLASS, Some(3)),
        (r"[a-\d]", CLASS_AS_BOUND, Some(3)),
        ("[z-a]", RANGE_REVERSED, Some(1)),
        (r"[\/-\-]", RANGE_REVERSED, Some(1)),
        ("(a{1000}){1000}", TOO_LARGE, None),
        ("[a-z]{1000}[a-z]{1000}[a-z]{1000}[a-z]{1000}[a-z]{1000}", TOO_LARGE, None),
        ("((((a{1000}){1000}){1000}){1000}){1000}", TOO_LARGE, None),
        ("(?:a{0,1000}){2,}", TOO_LARGE, None),
    ];
    for &(pattern, reason, at) in cases {
        assert_eq!(refused(pattern), Error { reason, at }, "{pattern}");
    }
    assert_eq!(refused(r"/a\b").to_string(), "assertions such as \\b, \\B, \\A, \\z are not supported (at character 3)");
    assert_eq!(refused("").to_string(), "empty regex");
}

#[test]
fn the_limits() {
    // Up to the program limit: 4 × 1000 + 999 × 1 + 1 (match) = 5000.
    assert!(Regex::new(&format!("{}a{{999}}", "[a-z]{1000}".repeat(4))).is_ok());
    assert_eq!(refused(&format!("{}a{{1000}}", "[a-z]{1000}".repeat(4))).reason, TOO_LARGE);
    assert!(Regex::new("[a-z]{1,1000}").is_ok());
    // Nesting: 32 groups, not 33.
    assert!(re(&format!("{}a{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH))).is_full_match("a"));
    assert_eq!(
        refused(&format!("{}a{}", "(".repeat(MAX_DEPTH + 1), ")".repeat(MAX_DEPTH + 1))),
        Error { reason: TOO_DEEP, at: Some(32) }
    );
    // A huge regex is refused without building anything; a long literal one up to the limit is fine.
    assert_eq!(refused(&"(a{1000}){1000}".repeat(600)).reason, TOO_LARGE);
    assert!(re(&"/x".repeat(2499)).is_full_match(&"/x".repeat(2499)));
    assert!(Regex::new(&"a{0}".repeat(MAX_LENGTH / 4)).is_ok());
    // A body that compiles to nothing still counts once per copy: nested counts over the limit
    // are refused before the compiler visits their copies (10^12 of them here).
    assert_eq!(refused("(?:(?:(?:(?:a{0}){1000}){1000}){1000}){1000}b").reason, TOO_LARGE);
    assert_eq!(refused("(?:(?:(?:a{0}){1000}){1000}){100}b").reason, TOO_LARGE);
    assert!(re("(?:a{0}){1000}b").is_full_match("b"));
    assert_eq!(refused(&"a{0}".repeat(MAX_LENGTH / 4 + 1)), Error { reason: TOO_LONG, at: None });
}

#[test]
fn as_written() {
    assert_eq!(re("^/a(?:b|c)$").as_str(), "^/a(?:b|c)$");
}

/// The characters of the generated paths (no `\x0b`: RE2's `\s` leaves it out, regex-lite's
/// takes it).
const ALPHABET: &[char] = &['a', 'b', 'Z', '/', '.', '-', '_', '0', '7', ' ', '\n', 'é', '€', '*', '$', '('];
/// The characters of generated classes; `-` escaped, `&` and `~` left out (set operations in
/// regex-lite, plain characters in RE2).
const CLASS_CHARS: &[char] = &['a', 'b', 'Z', '/', '.', '-', '_', '0', '7', ' ', 'é', '€', '*', '$', '('];
const PERL: &[char] = &['d', 'D', 'w', 'W', 's', 'S'];

/// A generated regex: renders to a pattern and produces paths it should match.
enum Gen {
    Lit(char),
    Dot,
    Perl(char),
    /// Items (single characters, ranges, Perl classes), negated.
    Class(Vec<(char, char, Option<char>)>, bool),
    Concat(Vec<Gen>),
    Alt(Vec<Gen>),
    /// The node, its kind (0..4: `(`, `(?:`, `(?P<`, `(?<`).
    Group(Box<Gen>, usize),
    /// Node, min, max, form (0: `*`/`+`/`?` or counts, by min and max), lazy.
    Repeat(Box<Gen>, u32, Option<u32>, bool),
}

struct Generator {
    rng: Rng,
    names: usize,
}

impl Generator {
    fn alternation(&mut self, depth: usize) -> Gen {
        let n = if self.rng.below(4) == 0 { 2 + self.rng.below(2) } else { 1 };
        let mut alternatives: Vec<Gen> = (0..n).map(|_| self.concat(depth)).collect();
        if n == 1 {
            alternatives.pop().unwrap()
        } else {
            Gen::Alt(alternatives)
        }
    }

    fn concat(&mut self, depth: usize) -> Gen {
        let n = 1 + self.rng.below(4);
        Gen::Concat((0..n).map(|_| self.quantified(depth)).collect())
    }

    fn quantified(&mut self, depth: usize) -> Gen {
        let atom = self.atom(depth);
        if self.rng.below(3) != 0 {
            return atom;
        }
        let (min, max) = match self.rng.below(6) {
            0 => (0, None),
            1 => (1, None),
            2 => (0, Some(1)),
            3 => {
                let n = self.rng.below(3) as u32;
                (n, Some(n))
            }
            4 => (self.rng.below(3) as u32, None),
            _ => {
                let n = self.rng.below(3) as u32;
                (n, Some(n + self.rng.below(3) as u32))
            }
        };
        Gen::Repeat(Box::new(atom), min, max, self.rng.below(4) == 0)
    }

    fn atom(&mut self, depth: usize) -> Gen {
        match self.rng.below(if depth < 3 { 10 } else { 8 }) {
            0..=3 => Gen::Lit(*self.rng.pick(ALPHABET)),
            4 => Gen::Dot,
            5 => Gen::Perl(*self.rng.pick(PERL)),
            6 | 7 => self.class(),
            _ => {
                let kind = self.rng.below(4);
                Gen::Group(Box::new(self.alternation(depth + 1)), kind)
            }
        }
    }

    fn class(&mut self) -> Gen {
        let n = 1 + self.rng.below(3);
        let items = (0..n)
            .map(|_| match self.rng.below(4) {
                0 => ('\0', '\0', Some(*self.rng.pick(PERL))),
                1 => {
                    let (a, b) = (*self.rng.pick(CLASS_CHARS), *self.rng.pick(CLASS_CHARS));
                    (a.min(b), a.max(b), None)
                }
                _ => {
                    let c = *self.rng.pick(CLASS_CHARS);
                    (c, c, None)
                }
            })
            .collect();
        Gen::Class(items, self.rng.below(3) == 0)
    }

    fn render(&mut self, g: &Gen, out: &mut String) {
        match g {
            Gen::Lit(c) => {
                if r"\.+*?()|[]{}^$".contains(*c) || (matches!(c, '/' | '-') && self.rng.below(2) == 0) {
                    out.push('\\');
                }
                out.push(*c);
            }
            Gen::Dot => out.push('.'),
            Gen::Perl(c) => {
                out.push('\\');
                out.push(*c);
            }
            Gen::Class(items, negated) => {
                out.push('[');
                if *negated {
                    out.push('^');
                }
                for &(lo, hi, perl) in items {
                    if let Some(p) = perl {
                        out.push('\\');
                        out.push(p);
                        continue;
                    }
                    class_char(lo, out);
                    if hi != lo {
                        out.push('-');
                        class_char(hi, out);
                    }
                }
                out.push(']');
            }
            Gen::Concat(items) => items.iter().for_each(|i| self.render(i, out)),
            Gen::Alt(alternatives) => {
                for (i, a) in alternatives.iter().enumerate() {
                    if i > 0 {
                        out.push('|');
                    }
                    self.render(a, out);
                }
            }
            Gen::Group(inner, kind) => {
                self.names += 1;
                match kind {
                    0 => out.push('('),
                    1 => out.push_str("(?:"),
                    2 => out.push_str(&format!("(?P<g{}>", self.names)),
                    _ => out.push_str(&format!("(?<n_{}>", self.names)),
                }
                self.render(inner, out);
                out.push(')');
            }
            Gen::Repeat(inner, min, max, lazy) => {
                // A quantified concatenation or alternation needs a group.
                let wrap = matches!(**inner, Gen::Concat(_) | Gen::Alt(_));
                if wrap {
                    out.push_str("(?:");
                }
                self.render(inner, out);
                if wrap {
                    out.push(')');
                }
                match (min, max) {
                    (0, None) => out.push('*'),
                    (1, None) => out.push('+'),
                    (0, Some(1)) => out.push('?'),
                    (n, None) => out.push_str(&format!("{{{n},}}")),
                    (n, Some(m)) if n == m => out.push_str(&format!("{{{n}}}")),
                    (n, Some(m)) => out.push_str(&format!("{{{n},{m}}}")),
                }
                if *lazy {
                    out.push('?');
                }
            }
        }
    }

    /// A path the regex should match (approximately: a class none of whose characters is in
    /// the alphabet gets any character, and the oracle decides).
    fn sample(&mut self, g: &Gen, out: &mut String) {
        match g {
            Gen::Lit(c) => out.push(*c),
            Gen::Dot | Gen::Perl(_) | Gen::Class(..) => {
                let c = (0..30).map(|_| *self.rng.pick(ALPHABET)).find(|&c| in_class(g, c)).unwrap_or('a');
                out.push(c);
            }
            Gen::Concat(items) => items.iter().for_each(|i| self.sample(i, out)),
            Gen::Alt(alternatives) => {
                let i = self.rng.below(alternatives.len());
                self.sample(&alternatives[i], out);
            }
            Gen::Group(inner, _) => self.sample(inner, out),
            Gen::Repeat(inner, min, max, _) => {
                let top = max.unwrap_or(min + 3).min(min + 3);
                let n = *min + self.rng.below((top - min + 1) as usize) as u32;
                (0..n).for_each(|_| self.sample(inner, out));
            }
        }
    }

    /// A path near `s`: one character inserted, removed or replaced.
    fn mutate(&mut self, s: &str) -> String {
        let mut chars: Vec<char> = s.chars().collect();
        let i = self.rng.below(chars.len() + 1);
        match self.rng.below(3) {
            0 => chars.insert(i, *self.rng.pick(ALPHABET)),
            1 if i < chars.len() => {
                chars.remove(i);
            }
            _ if i < chars.len() => chars[i] = *self.rng.pick(ALPHABET),
            _ => chars.push(*self.rng.pick(ALPHABET)),
        }
        chars.into_iter().collect()
    }

    fn random_path(&mut self) -> String {
        let n = self.rng.below(7);
        (0..n).map(|_| *self.rng.pick(ALPHABET)).collect()
    }
}

fn class_char(c: char, out: &mut String) {
    if r"\[]^-".contains(c) {
        out.push('\\');
    }
    out.push(c);
}

/// The test's own reading of a one-character item, for sampling only.
fn in_class(g: &Gen, c: char) -> bool {
    let perl = |p: char, c: char| match p {
        'd' => c.is_ascii_digit(),
        'D' => !c.is_ascii_digit(),
        'w' => c.is_ascii_alphanumeric() || c == '_',
        'W' => !(c.is_ascii_alphanumeric() || c == '_'),
        's' => "\t\n\x0c\r ".contains(c),
        _ => !"\t\n\x0c\r ".contains(c),
    };
    match g {
        Gen::Dot => c != '\n',
        Gen::Perl(p) => perl(*p, c),
        Gen::Class(items, negated) => items.iter().any(|&(lo, hi, p)| p.map_or(lo <= c && c <= hi, |p| perl(p, c))) != *negated,
        _ => false,
    }
}

#[test]
fn agrees_with_regex_lite_on_generated_regexes() {
    let mut g = Generator { rng: Rng(0x9e37_79b9_7f4a_7c15), names: 0 };
    let (mut cases, mut matched) = (0, 0);
    for _ in 0..4000 {
        let tree = g.alternation(0);
        let mut pattern = String::new();
        // Sometimes the anchors that change nothing.
        if g.rng.below(8) == 0 {
            pattern.push('^');
        }
        g.render(&tree, &mut pattern);
        if g.rng.below(8) == 0 && !pattern.ends_with('\\') {
            pattern.push('$');
        }
        let oracle = regex_lite::Regex::new(&format!("^(?:{pattern})$")).unwrap_or_else(|e| panic!("{pattern}: {e}"));
        let ours = re(&pattern);
        let mut paths = Vec::new();
        for _ in 0..3 {
            let mut s = String::new();
            g.sample(&tree, &mut s);
            paths.push(g.mutate(&s));
            paths.push(s);
            paths.push(g.random_path());
        }
        for path in &paths {
            let expected = oracle.is_match(path);
            assert_eq!(ours.is_full_match(path), expected, "regex {pattern:?} on path {path:?}");
            cases += 1;
            matched += usize::from(expected);
        }
    }
    assert_eq!(cases, 36_000);
    // Enough of both answers for the comparison to mean something.
    assert!(matched > cases / 4 && matched < cases * 3 / 4, "{matched} of {cases} matched");
}

#[test]
fn the_configuration_names_the_field_and_the_reason() {
    let config = |regex: &str| {
        serde_json::json!({
            "providers": {"p": {"issuer": "https://i", "audiences": ["a"], "jwks": {"cluster": "c", "path": "/k"}}},
            "rules": [{"match": {"prefix": "/"}, "requires": "none"}, {"match": {"regex": regex}, "requires": "none"}]
        })
        .to_string()
    };
    let e = crate::config::Config::parse(config("/a(?=b)").as_bytes()).unwrap_err();
    assert_eq!(e.field, "rules[1].match.regex");
    assert_eq!(e.message, "lookaround ((?=, (?!, (?<=, (?<!) is not supported (at character 3)");
    let e = crate::config::Config::parse(config("(a{1000}){1000}").as_bytes()).unwrap_err();
    assert_eq!((e.field.as_str(), e.message.as_str()), ("rules[1].match.regex", TOO_LARGE));
    assert!(crate::config::Config::parse(config("/a|/ab").as_bytes()).is_ok());
}
