//! The route rules' `match.regex`: a small RE2 subset, always matched against the whole path.
//!
//! Envoy's own route `safe_regex` is an RE2 full match, and that is what a rule means here:
//! the regex must match the entire path (query excluded), not a part of it. `a|ab` matches
//! `ab`.
//!
//! Our own matcher instead of a regex crate: Envoy's V8 compiles every function of the module
//! at load, and its compile memory follows the largest functions; regex-lite's parser and
//! compiler were the module's three largest (7.9, 4.1 and 2.6 KB). This one is a few small
//! functions.
//!
//! Supported syntax (anything else is refused when the configuration is read, with the reason
//! and the character it is at):
//! - literal characters; `\` before any ASCII punctuation is that character (`\.` `\/` `\-`);
//! - `.` (any character except `\n`), `\d` `\w` `\s` and `\D` `\W` `\S` (ASCII, as in RE2:
//!   `[0-9]`, `[0-9A-Za-z_]`, `[\t\n\f\r ]`);
//! - classes `[a-z_.]`, `[^/]`, with ranges, escapes and `\d`-style classes inside (`[`
//!   inside a class must be escaped);
//! - groups `(...)`, `(?:...)`, `(?P<name>...)`, `(?<name>...)` (they only group: nothing is
//!   captured) and alternation `|`;
//! - `*` `+` `?` `{n}` `{n,}` `{n,m}` (counts up to 1000), each optionally lazy (`*?`): for a
//!   whole-path match lazy and greedy accept the same paths;
//! - `^` at the start and `$` at the end of the regex or of one of its top-level alternatives
//!   (they change nothing in a whole-path match).
//!
//! Refused: an empty regex, group or alternative; unbalanced groups; backreferences;
//! lookaround; `\b` and other assertions; `\p{..}`; inline flags such as `(?i)`; `^`/`$`
//! elsewhere; a quantifier on nothing or on another quantifier (`a**`); a malformed `{`
//! (a literal `{` is written `\{`); ranges out of order (`z-a`); groups nested more than
//! [`MAX_DEPTH`] deep; a regex longer than [`MAX_LENGTH`] bytes; and a regex whose program has
//! more than [`MAX_PROGRAM`] instructions (counted repetitions are expanded: `(a{1000}){1000}`
//! is refused before anything is built).
//!
//! Matching simulates the Thompson NFA (Pike's method: the set of live instructions, advanced
//! one character at a time), so it takes O(path length × program size) time, never
//! backtracks, and never recurses over the path. Parsing keeps open groups on its own stack;
//! only the size check and the compiler recurse, over a tree at most [`MAX_DEPTH`] groups deep.

use std::fmt;

/// Deepest nesting of groups.
pub const MAX_DEPTH: usize = 32;

/// Largest count in `{n}`, `{n,}`, `{n,m}` (RE2's limit too).
pub const MAX_REPEAT: u32 = 1000;

/// Longest regex, in bytes: what the parser builds stays small before the program's size is
/// known.
pub const MAX_LENGTH: usize = 10_000;

/// Most instructions a compiled regex may have. Matching costs up to this many steps per
/// character of the path.
pub const MAX_PROGRAM: usize = 5000;

/// A compiled `match.regex`.
#[derive(Debug, Clone)]
pub struct Regex {
    source: String,
    /// The character sets the program's `Set` instructions refer to.
    sets: Vec<Set>,
    program: Vec<Inst>,
}

/// Why a regex was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// What is wrong.
    pub reason: &'static str,
    /// Where: the 0-based character index in the regex, when it is about one place.
    pub at: Option<usize>,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.at {
            Some(at) => write!(f, "{} (at character {})", self.reason, at + 1),
            None => f.write_str(self.reason),
        }
    }
}

impl Regex {
    /// Parses and compiles a regex of the supported subset.
    pub fn new(pattern: &str) -> Result<Regex, Error> {
        if pattern.len() > MAX_LENGTH {
            return Err(Error { reason: TOO_LONG, at: None });
        }
        let (tree, sets) = Parser::parse(pattern)?;
        if size(&tree).saturating_add(1) > MAX_PROGRAM {
            return Err(Error { reason: TOO_LARGE, at: None });
        }
        let mut program = Vec::new();
        compile(&mut program, &tree);
        program.push(Inst::Match);
        Ok(Regex { source: pattern.to_owned(), sets, program })
    }

    /// The regex as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether the regex matches the whole of `text`.
    #[inline(never)]
    pub fn is_full_match(&self, text: &str) -> bool {
        let mut threads = Threads::new(self.program.len());
        threads.add(&self.program, 0, 0);
        threads.advance();
        for (i, c) in text.chars().enumerate() {
            threads.step(self, c, i + 1);
            if threads.current.is_empty() {
                return false;
            }
        }
        threads.current.iter().any(|&pc| matches!(self.program.get(pc), Some(Inst::Match)))
    }
}

// The reasons for refusing a regex.
const EMPTY_REGEX: &str = "empty regex";
const EMPTY_GROUP: &str = "empty group ()";
const EMPTY_ALTERNATIVE: &str = "empty alternative: each side of | must match something";
const UNCLOSED_GROUP: &str = "unclosed group: missing )";
const UNMATCHED_CLOSE: &str = "unmatched )";
const TOO_DEEP: &str = "groups nested more than 32 deep";
const GROUP_SYNTAX: &str =
    "unsupported group: only (...), (?:...), (?P<name>...) and (?<name>...); inline flags such as (?i) are not supported";
const LOOKAROUND: &str = "lookaround ((?=, (?!, (?<=, (?<!) is not supported";
const GROUP_NAME: &str = "bad group name: letters, digits and _, not starting with a digit, then >";
const DUPLICATE_NAME: &str = "duplicate group name";
const NOTHING_TO_REPEAT: &str = "nothing to repeat before this quantifier";
const DOUBLE_QUANTIFIER: &str = "a quantifier cannot follow another (group it: (?:a*)+)";
const BAD_COUNTS: &str = "malformed repetition: {n}, {n,} or {n,m} (a literal { is written \\{)";
const COUNT_TOO_LARGE: &str = "repetition count over 1000";
const COUNTS_REVERSED: &str = "repetition {n,m} with n greater than m";
const CARET: &str = "^ is only supported at the start of the regex or of a top-level alternative";
const DOLLAR: &str = "$ is only supported at the end of the regex or of a top-level alternative";
const TRAILING_BACKSLASH: &str = "\\ at the end of the regex";
const BACKREFERENCE: &str = "backreferences are not supported";
const ASSERTION: &str = "assertions such as \\b, \\B, \\A, \\z are not supported";
const UNICODE_CLASS: &str = "Unicode classes (\\p, \\P) are not supported";
const BAD_ESCAPE: &str =
    "unsupported escape: only \\d \\w \\s \\D \\W \\S, and \\ before punctuation such as \\. \\/ \\\\ for the character itself";
const UNCLOSED_CLASS: &str = "unclosed class: missing ]";
const EMPTY_CLASS: &str = "empty class [] (a literal ] is written \\])";
const BRACKET_IN_CLASS: &str = "[ inside a class must be written \\[ (POSIX classes such as [:alpha:] are not supported)";
const CLASS_AS_BOUND: &str = "a class such as \\d cannot be the end of a range";
const RANGE_REVERSED: &str = "range out of order, such as z-a";
const TOO_LONG: &str = "regex longer than 10000 bytes";
const TOO_LARGE: &str =
    "regex too large: its program would have more than 5000 instructions (counted repetitions such as {100} are expanded)";

/// A set of characters: inclusive ranges, or everything outside them when `negated`.
#[derive(Debug, Clone)]
struct Set {
    ranges: Vec<(char, char)>,
    negated: bool,
}

impl Set {
    /// The ranges sorted, with overlapping and adjacent ones merged, so that [`Set::contains`]
    /// is a binary search: a class of thousands of ranges costs a matching step O(log n), not
    /// O(n) (sorted by insertion, once per class, at configuration time).
    #[inline(never)]
    fn normalized(mut self) -> Set {
        let r = &mut self.ranges;
        for i in 1..r.len() {
            let mut j = i;
            while j > 0 && r.get(j - 1) > r.get(j) {
                r.swap(j - 1, j);
                j -= 1;
            }
        }
        let mut merged: Vec<(char, char)> = Vec::with_capacity(r.len());
        for &(lo, hi) in r.iter() {
            match merged.last_mut() {
                Some(last) if u32::from(lo) <= u32::from(last.1).saturating_add(1) => last.1 = last.1.max(hi),
                _ => merged.push((lo, hi)),
            }
        }
        self.ranges = merged;
        self
    }

    fn contains(&self, c: char) -> bool {
        let after = self.ranges.partition_point(|&(lo, _)| lo <= c);
        let inside = after.checked_sub(1).and_then(|i| self.ranges.get(i)).is_some_and(|&(_, hi)| c <= hi);
        inside != self.negated
    }
}

// The Perl classes, ASCII as in RE2, and their complements.
const DIGIT: &[(char, char)] = &[('0', '9')];
const NOT_DIGIT: &[(char, char)] = &[('\0', '/'), (':', char::MAX)];
const WORD: &[(char, char)] = &[('0', '9'), ('A', 'Z'), ('_', '_'), ('a', 'z')];
const NOT_WORD: &[(char, char)] = &[('\0', '/'), (':', '@'), ('[', '^'), ('`', '`'), ('{', char::MAX)];
const SPACE: &[(char, char)] = &[('\t', '\n'), ('\x0c', '\r'), (' ', ' ')];
const NOT_SPACE: &[(char, char)] = &[('\0', '\x08'), ('\x0b', '\x0b'), ('\x0e', '\x1f'), ('!', char::MAX)];

/// What an escape stands for.
enum Escaped {
    Char(char),
    Class(&'static [(char, char)]),
}

/// The parsed regex. Literals and classes are indexes into the parser's sets.
#[derive(Debug)]
enum Node {
    Set(usize),
    Concat(Vec<Node>),
    Alt(Vec<Node>),
    /// The node, at least `min` times and at most `max` (`None`: no limit).
    Repeat(Box<Node>, u32, Option<u32>),
}

/// One group being read, or the whole regex.
#[derive(Default)]
struct Frame {
    /// Where its `(` is.
    open: usize,
    /// The alternatives finished so far.
    alternatives: Vec<Node>,
    /// The items of the current alternative.
    items: Vec<Node>,
}

/// Reads a regex left to right; the groups around the current one are on `outer`, not on the
/// call stack.
struct Parser {
    chars: Vec<char>,
    pos: usize,
    /// The innermost open group (at first, the whole regex).
    current: Frame,
    /// The groups around it, innermost last.
    outer: Vec<Frame>,
    sets: Vec<Set>,
    names: Vec<String>,
    /// Whether the last item was made by a quantifier (`a**` is refused).
    quantified: bool,
}

type Parsed<T> = Result<T, Error>;

fn fail<T>(reason: &'static str, at: usize) -> Parsed<T> {
    Err(Error { reason, at: Some(at) })
}

impl Parser {
    #[inline(never)]
    fn parse(pattern: &str) -> Parsed<(Node, Vec<Set>)> {
        let mut p = Parser {
            chars: pattern.chars().collect(),
            pos: 0,
            current: Frame::default(),
            outer: Vec::new(),
            sets: Vec::new(),
            names: Vec::new(),
            quantified: false,
        };
        while let Some(c) = p.next() {
            p.item(c, p.pos - 1)?;
        }
        let tree = p.finish()?;
        Ok((tree, p.sets))
    }

    fn next(&mut self) -> Option<char> {
        let c = self.chars.get(self.pos).copied();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn eat(&mut self, c: char) -> bool {
        let found = self.peek() == Some(c);
        if found {
            self.pos += 1;
        }
        found
    }

    /// One item of the regex, starting with `c` at `at`.
    #[inline(never)]
    fn item(&mut self, c: char, at: usize) -> Parsed<()> {
        match c {
            '(' => self.open_group(at),
            ')' => self.close_group(at),
            '|' => {
                end_alternative(&mut self.current, at)?;
                self.quantified = false;
                Ok(())
            }
            '*' => self.repeat(at, 0, None),
            '+' => self.repeat(at, 1, None),
            '?' => self.repeat(at, 0, Some(1)),
            '{' => {
                let (min, max) = self.counts(at)?;
                self.repeat(at, min, max)
            }
            '^' if self.outer.is_empty() && self.current.items.is_empty() => Ok(()),
            '^' => fail(CARET, at),
            '$' if self.outer.is_empty() && matches!(self.peek(), None | Some('|')) => Ok(()),
            '$' => fail(DOLLAR, at),
            '[' => {
                let set = self.class(at)?;
                self.push_set(set);
                Ok(())
            }
            '\\' => {
                let set = match self.escape(at)? {
                    Escaped::Char(c) => Set { ranges: vec![(c, c)], negated: false },
                    Escaped::Class(ranges) => Set { ranges: ranges.to_vec(), negated: false },
                };
                self.push_set(set);
                Ok(())
            }
            '.' => {
                self.push_set(Set { ranges: vec![('\n', '\n')], negated: true });
                Ok(())
            }
            c => {
                self.push_set(Set { ranges: vec![(c, c)], negated: false });
                Ok(())
            }
        }
    }

    fn push_set(&mut self, set: Set) {
        let index = self.sets.len();
        self.sets.push(set.normalized());
        self.push(Node::Set(index));
    }

    fn push(&mut self, node: Node) {
        self.current.items.push(node);
        self.quantified = false;
    }

    /// After `(`: the group's kind, then a new frame.
    #[inline(never)]
    fn open_group(&mut self, at: usize) -> Parsed<()> {
        if self.outer.len() >= MAX_DEPTH {
            return fail(TOO_DEEP, at);
        }
        if self.eat('?') {
            match self.next() {
                Some(':') => {}
                Some('P') if self.eat('<') => self.group_name(at)?,
                Some('<') if !matches!(self.peek(), Some('=' | '!')) => self.group_name(at)?,
                Some('=' | '!' | '<') => return fail(LOOKAROUND, at),
                _ => return fail(GROUP_SYNTAX, at),
            }
        }
        let inner = Frame { open: at, ..Frame::default() };
        self.outer.push(std::mem::replace(&mut self.current, inner));
        self.quantified = false;
        Ok(())
    }

    /// A group's name after `<`, up to `>`: only checked (RE2 refuses a name given twice).
    #[inline(never)]
    fn group_name(&mut self, at: usize) -> Parsed<()> {
        let mut name = String::new();
        loop {
            match self.next() {
                Some('>') if !name.is_empty() => break,
                Some(c) if c == '_' || c.is_ascii_alphabetic() || (c.is_ascii_digit() && !name.is_empty()) => name.push(c),
                _ => return fail(GROUP_NAME, at),
            }
        }
        if self.names.contains(&name) {
            return fail(DUPLICATE_NAME, at);
        }
        self.names.push(name);
        Ok(())
    }

    #[inline(never)]
    fn close_group(&mut self, at: usize) -> Parsed<()> {
        let Some(outer) = self.outer.pop() else {
            return fail(UNMATCHED_CLOSE, at);
        };
        let mut frame = std::mem::replace(&mut self.current, outer);
        if frame.alternatives.is_empty() && frame.items.is_empty() {
            return fail(EMPTY_GROUP, at);
        }
        let node = group_node(&mut frame, at)?;
        self.push(node);
        Ok(())
    }

    /// The end of the regex: every group closed, and something to match.
    #[inline(never)]
    fn finish(&mut self) -> Parsed<Node> {
        if !self.outer.is_empty() {
            return fail(UNCLOSED_GROUP, self.current.open);
        }
        if self.current.alternatives.is_empty() && self.current.items.is_empty() {
            return Err(Error { reason: EMPTY_REGEX, at: None });
        }
        group_node(&mut self.current, self.chars.len())
    }

    /// A quantifier at `at`: wraps the last item. A `?` after it (lazy) changes nothing here.
    #[inline(never)]
    fn repeat(&mut self, at: usize, min: u32, max: Option<u32>) -> Parsed<()> {
        if self.quantified {
            return fail(DOUBLE_QUANTIFIER, at);
        }
        let Some(node) = self.current.items.pop() else {
            return fail(NOTHING_TO_REPEAT, at);
        };
        self.eat('?');
        self.push(Node::Repeat(Box::new(node), min, max));
        self.quantified = true;
        Ok(())
    }

    /// After `{`: `n}`, `n,}` or `n,m}`.
    #[inline(never)]
    fn counts(&mut self, at: usize) -> Parsed<(u32, Option<u32>)> {
        let min = self.number(at)?;
        let max = if !self.eat(',') {
            Some(min)
        } else if self.peek() == Some('}') {
            None
        } else {
            Some(self.number(at)?)
        };
        if !self.eat('}') {
            return fail(BAD_COUNTS, at);
        }
        if min > MAX_REPEAT || max.is_some_and(|m| m > MAX_REPEAT) {
            return fail(COUNT_TOO_LARGE, at);
        }
        if max.is_some_and(|m| m < min) {
            return fail(COUNTS_REVERSED, at);
        }
        Ok((min, max))
    }

    /// Decimal digits (at least one); anything over [`MAX_REPEAT`] stays just over it.
    fn number(&mut self, at: usize) -> Parsed<u32> {
        let mut n: Option<u32> = None;
        while let Some(d) = self.peek().and_then(|c| c.to_digit(10)) {
            self.pos += 1;
            n = Some(n.unwrap_or(0).saturating_mul(10).saturating_add(d).min(MAX_REPEAT + 1));
        }
        match n {
            Some(n) => Ok(n),
            None => fail(BAD_COUNTS, at),
        }
    }

    /// After `\` at `at`.
    #[inline(never)]
    fn escape(&mut self, at: usize) -> Parsed<Escaped> {
        let Some(c) = self.next() else {
            return fail(TRAILING_BACKSLASH, at);
        };
        match c {
            'd' => Ok(Escaped::Class(DIGIT)),
            'D' => Ok(Escaped::Class(NOT_DIGIT)),
            'w' => Ok(Escaped::Class(WORD)),
            'W' => Ok(Escaped::Class(NOT_WORD)),
            's' => Ok(Escaped::Class(SPACE)),
            'S' => Ok(Escaped::Class(NOT_SPACE)),
            c if c.is_ascii_punctuation() => Ok(Escaped::Char(c)),
            '1'..='9' => fail(BACKREFERENCE, at),
            'b' | 'B' | 'A' | 'z' | 'Z' | 'G' => fail(ASSERTION, at),
            'p' | 'P' => fail(UNICODE_CLASS, at),
            _ => fail(BAD_ESCAPE, at),
        }
    }

    /// After `[` at `open`: the class up to its `]`.
    #[inline(never)]
    fn class(&mut self, open: usize) -> Parsed<Set> {
        let negated = self.eat('^');
        let mut ranges = Vec::new();
        loop {
            let at = self.pos;
            let lo = match self.next() {
                None => return fail(UNCLOSED_CLASS, open),
                Some(']') if ranges.is_empty() => return fail(EMPTY_CLASS, at),
                Some(']') => return Ok(Set { ranges, negated }),
                Some('[') => return fail(BRACKET_IN_CLASS, at),
                Some('\\') => match self.escape(at)? {
                    Escaped::Char(c) => c,
                    Escaped::Class(class) => {
                        ranges.extend_from_slice(class);
                        continue;
                    }
                },
                Some(c) => c,
            };
            // `-` makes a range unless it is the class's last character.
            let range = self.peek() == Some('-') && !matches!(self.chars.get(self.pos + 1), None | Some(']'));
            let hi = if range { self.range_end()? } else { lo };
            if hi < lo {
                return fail(RANGE_REVERSED, at);
            }
            ranges.push((lo, hi));
        }
    }

    /// After a range's first character, at its `-`: the last character.
    fn range_end(&mut self) -> Parsed<char> {
        self.pos += 1;
        let at = self.pos;
        match self.next() {
            Some('\\') => match self.escape(at)? {
                Escaped::Char(c) => Ok(c),
                Escaped::Class(_) => fail(CLASS_AS_BOUND, at),
            },
            Some('[') => fail(BRACKET_IN_CLASS, at),
            Some(c) => Ok(c),
            None => fail(UNCLOSED_CLASS, at),
        }
    }
}

/// Closes the current alternative of `frame` (`at`: the `|` or `)` that ends it).
fn end_alternative(frame: &mut Frame, at: usize) -> Parsed<()> {
    let mut items = std::mem::take(&mut frame.items);
    let node = match items.len() {
        0 => return fail(EMPTY_ALTERNATIVE, at),
        1 => items.pop().unwrap_or(Node::Concat(Vec::new())),
        _ => Node::Concat(items),
    };
    frame.alternatives.push(node);
    Ok(())
}

/// The node of a whole group: its one alternative, or the alternation of them.
fn group_node(frame: &mut Frame, at: usize) -> Parsed<Node> {
    end_alternative(frame, at)?;
    let mut alternatives = std::mem::take(&mut frame.alternatives);
    Ok(if alternatives.len() == 1 { alternatives.pop().unwrap_or(Node::Concat(Vec::new())) } else { Node::Alt(alternatives) })
}

/// One instruction of the compiled program.
#[derive(Debug, Clone, Copy)]
enum Inst {
    /// Consume one character of this set (index into `Regex::sets`).
    Set(usize),
    /// Continue at both.
    Split(usize, usize),
    Jump(usize),
    /// The whole regex has matched.
    Match,
}

/// How many instructions `node` compiles to (saturating: an absurd count stays absurd).
#[inline(never)]
fn size(node: &Node) -> usize {
    match node {
        Node::Set(_) => 1,
        Node::Concat(items) => items.iter().map(size).fold(0, usize::saturating_add),
        // Each alternative but the last: a split before it and a jump after it.
        Node::Alt(alternatives) => {
            let branches = alternatives.len().saturating_sub(1).saturating_mul(2);
            alternatives.iter().map(size).fold(branches, usize::saturating_add)
        }
        // A body that compiles to nothing (`a{0}`) still counts one per copy: the compiler
        // visits every copy, so nested counts must multiply up to the limit, as RE2's do.
        Node::Repeat(node, min, max) => {
            let one = size(node).max(1);
            let required = one.saturating_mul(*min as usize);
            let optional = match max {
                None => one.saturating_add(2),
                Some(max) => one.saturating_add(1).saturating_mul(max.saturating_sub(*min) as usize),
            };
            required.saturating_add(optional)
        }
    }
}

/// Appends the code of `node` (Thompson's construction).
#[inline(never)]
fn compile(program: &mut Vec<Inst>, node: &Node) {
    match node {
        Node::Set(index) => program.push(Inst::Set(*index)),
        Node::Concat(items) => items.iter().for_each(|item| compile(program, item)),
        Node::Alt(alternatives) => compile_alt(program, alternatives),
        Node::Repeat(node, min, max) => compile_repeat(program, node, *min, *max),
    }
}

/// `split next, L1; a; jump end; L1: split next, L2; b; jump end; L2: c; end:`
#[inline(never)]
fn compile_alt(program: &mut Vec<Inst>, alternatives: &[Node]) {
    let Some((last, others)) = alternatives.split_last() else { return };
    let mut jumps = Vec::with_capacity(others.len());
    for alternative in others {
        let split = program.len();
        program.push(Inst::Split(split + 1, 0));
        compile(program, alternative);
        jumps.push(program.len());
        program.push(Inst::Jump(0));
        let end = program.len();
        patch(program, split, Inst::Split(split + 1, end));
    }
    compile(program, last);
    let end = program.len();
    jumps.into_iter().for_each(|jump| patch(program, jump, Inst::Jump(end)));
}

/// `min` copies, then either a loop (`L: split next, end; node; jump L; end:`) or
/// `max - min` optional copies (`split next, end; node; split next, end; node; end:`).
#[inline(never)]
fn compile_repeat(program: &mut Vec<Inst>, node: &Node, min: u32, max: Option<u32>) {
    (0..min).for_each(|_| compile(program, node));
    let Some(max) = max else {
        let split = program.len();
        program.push(Inst::Split(split + 1, 0));
        compile(program, node);
        program.push(Inst::Jump(split));
        let end = program.len();
        patch(program, split, Inst::Split(split + 1, end));
        return;
    };
    let mut splits = Vec::new();
    for _ in min..max {
        splits.push(program.len());
        program.push(Inst::Split(program.len() + 1, 0));
        compile(program, node);
    }
    let end = program.len();
    splits.into_iter().for_each(|split| patch(program, split, Inst::Split(split + 1, end)));
}

fn patch(program: &mut [Inst], at: usize, inst: Inst) {
    if let Some(slot) = program.get_mut(at) {
        *slot = inst;
    }
}

/// The live threads of the simulation: instructions that consume a character, or `Match`.
struct Threads {
    current: Vec<usize>,
    next: Vec<usize>,
    /// For each instruction, the last step that added it (a thread per instruction per step).
    seen: Vec<usize>,
    /// The work list of [`Threads::add`].
    stack: Vec<usize>,
}

impl Threads {
    fn new(len: usize) -> Threads {
        Threads { current: Vec::new(), next: Vec::new(), seen: vec![usize::MAX; len], stack: Vec::new() }
    }

    /// Adds to `next` the threads reachable from `pc` without consuming (splits and jumps
    /// followed, each instruction once per step, so empty loops end).
    #[inline(never)]
    fn add(&mut self, program: &[Inst], pc: usize, step: usize) {
        self.stack.push(pc);
        while let Some(pc) = self.stack.pop() {
            match self.seen.get_mut(pc) {
                Some(seen) if *seen != step => *seen = step,
                _ => continue,
            }
            match program.get(pc) {
                Some(Inst::Jump(to)) => self.stack.push(*to),
                Some(Inst::Split(a, b)) => self.stack.extend([*b, *a]),
                Some(_) => self.next.push(pc),
                None => {}
            }
        }
    }

    /// `next` becomes `current`.
    fn advance(&mut self) {
        std::mem::swap(&mut self.current, &mut self.next);
        self.next.clear();
    }

    /// Consumes `c`: the threads whose set holds it move on. `step` counts characters read.
    #[inline(never)]
    fn step(&mut self, regex: &Regex, c: char, step: usize) {
        let current = std::mem::take(&mut self.current);
        for &pc in &current {
            if let Some(Inst::Set(set)) = regex.program.get(pc) {
                if regex.sets.get(*set).is_some_and(|s| s.contains(c)) {
                    self.add(&regex.program, pc + 1, step);
                }
            }
        }
        self.current = current;
        self.advance();
    }
}

#[cfg(test)]
mod tests;
