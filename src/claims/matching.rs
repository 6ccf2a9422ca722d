//! How a text and a wording are compared: both are cut into normalised words the same way, and a
//! wording is found where its words occur one after another in the text. No I/O; the module docs of
//! [`claims`](super) say what was chosen and why.
//!
//! A word is a run of letters and digits after folding each character: compatibility decomposition
//! (NFKD: `ﬁ` is `fi`, a full-width `Ａ` is `A`, a no-break space a space), combining marks (accents)
//! dropped, lowercased, and `ß`, `œ`, `æ`, `ø`, `đ`, `ł`, `ı` spelled out as `ss`, `oe`, `ae`, `o`, `d`,
//! `l`, `i`. Everything else (spaces, line breaks, punctuation, apostrophes, hyphens) separates words;
//! soft hyphens and zero-width joiners are dropped without separating. Han ideographs and kana are a
//! word each, since those scripts do not separate words with spaces. HTML tags separate words (and
//! `<script>`/`<style>` content and comments are skipped); character references (`&eacute;`,
//! `&#233;`, `&#xE9;`) are read as the character they stand for. Each word keeps the byte range it
//! came from, so a match reports where it is in the original text.

use std::collections::HashMap;
use std::ops::Range;

use unicode_normalization::char::{decompose_compatible, is_combining_mark};

/// A text cut into normalised words, each with the byte range of the original it came from.
#[derive(Debug, Default)]
pub(crate) struct Words {
    /// The normalised words, one after another.
    buffer: String,
    /// Each word: its range in `buffer`, and its range in the original text.
    words: Vec<(Range<usize>, Range<usize>)>,
}

impl Words {
    /// Cuts `text` into words.
    pub(crate) fn of(text: &str) -> Self {
        let mut words = Words::default();
        let mut cutter = Cutter {
            out: &mut words,
            start: None,
            end: 0,
            scratch: String::new(),
        };
        cutter.cut(text);
        words
    }

    /// How many words.
    pub(crate) fn len(&self) -> usize {
        self.words.len()
    }

    /// The `i`-th normalised word.
    pub(crate) fn word(&self, i: usize) -> &str {
        &self.buffer[self.words[i].0.clone()]
    }

    /// The byte range of the original text the `i`-th word came from.
    pub(crate) fn span(&self, i: usize) -> Range<usize> {
        self.words[i].1.clone()
    }

    /// The normalised words, in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &str> {
        self.words.iter().map(|(w, _)| &self.buffer[w.clone()])
    }
}

/// A wording as the words a text must contain, in order, joined by single spaces (a normalised word
/// never holds a space); `None` when it has no word at all.
pub(crate) fn phrase(wording: &str) -> Option<String> {
    let words = Words::of(wording);
    if words.len() == 0 {
        return None;
    }
    let mut joined = String::with_capacity(words.buffer.len() + words.len());
    for (i, w) in words.iter().enumerate() {
        if i > 0 {
            joined.push(' ');
        }
        joined.push_str(w);
    }
    Some(joined)
}

/// The state of one cut: the word being read and where it started and ends in the original.
struct Cutter<'a> {
    out: &'a mut Words,
    start: Option<usize>,
    end: usize,
    /// The folded forms of one character (reused).
    scratch: String,
}

impl Cutter<'_> {
    fn cut(&mut self, text: &str) {
        let mut i = 0;
        while let Some(c) = text[i..].chars().next() {
            if c == '<'
                && let Some(after) = markup_end(text, i)
            {
                self.flush();
                i = after;
                continue;
            }
            if c == '&'
                && let Some((decoded, len)) = character_reference(&text[i..])
            {
                self.feed(decoded, i, i + len);
                i += len;
                continue;
            }
            self.feed(c, i, i + c.len_utf8());
            i += c.len_utf8();
        }
        self.flush();
    }

    /// Ends the word being read, if any: its letters are the buffer past the last finished word.
    fn flush(&mut self) {
        if let Some(start) = self.start.take() {
            let from = self.out.words.last().map_or(0, |(w, _)| w.end);
            let to = self.out.buffer.len();
            self.out.words.push((from..to, start..self.end));
        }
    }

    /// Adds one character of the original, which spans `from..to` there.
    fn feed(&mut self, c: char, from: usize, to: usize) {
        if c.is_ascii() {
            if c.is_ascii_alphanumeric() {
                self.letter(c.to_ascii_lowercase(), from, to);
            } else {
                self.flush();
            }
            return;
        }
        let spelled = match c {
            'ß' | 'ẞ' => Some("ss"),
            'œ' | 'Œ' => Some("oe"),
            'æ' | 'Æ' => Some("ae"),
            'ø' | 'Ø' => Some("o"),
            'đ' | 'Đ' => Some("d"),
            'ł' | 'Ł' => Some("l"),
            'ı' => Some("i"),
            // Soft hyphen, zero-width non-joiner and joiner, word joiner, byte-order mark: invisible
            // inside a word, so they must not split it.
            '\u{ad}' | '\u{200c}' | '\u{200d}' | '\u{2060}' | '\u{feff}' => return,
            _ => None,
        };
        if let Some(s) = spelled {
            for l in s.chars() {
                self.letter(l, from, to);
            }
            return;
        }
        let mut folded = std::mem::take(&mut self.scratch);
        folded.clear();
        decompose_compatible(c, |d| {
            if !is_combining_mark(d) {
                folded.extend(d.to_lowercase());
            }
        });
        for l in folded.chars() {
            if standalone(l) {
                self.flush();
                self.start = Some(from);
                self.end = to;
                self.out.buffer.push(l);
                self.flush();
            } else if l.is_alphanumeric() {
                self.letter(l, from, to);
            } else {
                self.flush();
            }
        }
        self.scratch = folded;
    }

    fn letter(&mut self, l: char, from: usize, to: usize) {
        if self.start.is_none() {
            self.start = Some(from);
        }
        self.end = to;
        self.out.buffer.push(l);
    }
}

/// Characters that are a word each: Han ideographs and the kana, written without spaces.
fn standalone(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30ff | 0x31f0..=0x31ff | 0x3400..=0x4dbf | 0x4e00..=0x9fff | 0xf900..=0xfaff
        | 0xff66..=0xff9f | 0x20000..=0x3134f)
}

/// Where markup starting at byte `at` (a `<`) ends, if it is markup: a tag (`<p>`, `</b>`, `<br/>`),
/// a comment or declaration, with the whole element for `script` and `style`. A `<` that opens
/// nothing (`5 < 6`) is text.
fn markup_end(text: &str, at: usize) -> Option<usize> {
    let rest = &text[at..];
    let next = rest[1..].chars().next()?;
    if rest.starts_with("<!--") {
        return Some(rest.find("-->").map_or(text.len(), |e| at + e + 3));
    }
    if !(next.is_ascii_alphabetic() || next == '/' || next == '!' || next == '?') {
        return None;
    }
    let close = at + rest.find('>')? + 1;
    let name: String = rest[1..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if name == "script" || name == "style" {
        let lower = text[close..].to_ascii_lowercase();
        let end = lower
            .find(&format!("</{name}"))
            .and_then(|e| lower[e..].find('>').map(|g| close + e + g + 1))
            .unwrap_or(text.len());
        return Some(end);
    }
    Some(close)
}

/// The character an HTML character reference at the start of `text` stands for, and its length:
/// `&#233;`, `&#xE9;` or a named one (`&eacute;`; the Latin-1 letters, the common punctuation).
fn character_reference(text: &str) -> Option<(char, usize)> {
    let end = text[1..]
        .char_indices()
        .take(32)
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '#'))
        .filter(|(_, c)| *c == ';')
        .map(|(i, _)| i + 1)?;
    let body = &text[1..end];
    let c = if let Some(number) = body.strip_prefix('#') {
        let code = match number.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => number.parse().ok()?,
        };
        char::from_u32(code)?
    } else {
        *NAMED_REFERENCES.get(body)?
    };
    Some((c, end + 1))
}

static NAMED_REFERENCES: std::sync::LazyLock<HashMap<String, char>> =
    std::sync::LazyLock::new(|| {
        let mut m: HashMap<String, char> = [
            ("amp", '&'),
            ("lt", '<'),
            ("gt", '>'),
            ("quot", '"'),
            ("apos", '\''),
            ("nbsp", '\u{a0}'),
            ("shy", '\u{ad}'),
            ("ndash", '–'),
            ("mdash", '—'),
            ("lsquo", '‘'),
            ("rsquo", '’'),
            ("sbquo", '‚'),
            ("ldquo", '“'),
            ("rdquo", '”'),
            ("bdquo", '„'),
            ("laquo", '«'),
            ("raquo", '»'),
            ("hellip", '…'),
            ("middot", '·'),
            ("deg", '°'),
            ("reg", '®'),
            ("copy", '©'),
            ("trade", '™'),
            ("euro", '€'),
            ("pound", '£'),
            ("micro", 'µ'),
            ("szlig", 'ß'),
            ("OElig", 'Œ'),
            ("oelig", 'œ'),
            ("Scaron", 'Š'),
            ("scaron", 'š'),
            ("Yuml", 'Ÿ'),
            ("yuml", 'ÿ'),
            ("AElig", 'Æ'),
            ("aelig", 'æ'),
            ("Oslash", 'Ø'),
            ("oslash", 'ø'),
            ("ETH", 'Ð'),
            ("eth", 'ð'),
            ("THORN", 'Þ'),
            ("thorn", 'þ'),
        ]
        .into_iter()
        .map(|(name, c)| (name.to_owned(), c))
        .collect();
        // The Latin-1 letters with diacritics, by the HTML naming pattern (`Eacute`, `ouml`, ...).
        for (base, marks) in [
            ('a', "grave acute circ tilde uml ring"),
            ('e', "grave acute circ uml"),
            ('i', "grave acute circ uml"),
            ('o', "grave acute circ tilde uml"),
            ('u', "grave acute circ uml"),
            ('y', "acute"),
            ('n', "tilde"),
            ('c', "cedil"),
        ] {
            for mark in marks.split(' ') {
                let combining = match mark {
                    "grave" => '\u{300}',
                    "acute" => '\u{301}',
                    "circ" => '\u{302}',
                    "tilde" => '\u{303}',
                    "uml" => '\u{308}',
                    "ring" => '\u{30a}',
                    _ => '\u{327}',
                };
                for letter in [base, base.to_ascii_uppercase()] {
                    let c = unicode_normalization::char::compose(letter, combining)
                        .expect("a Latin-1 letter");
                    m.insert(format!("{letter}{mark}"), c);
                }
            }
        }
        m
    });

/// Where phrases occur in a set of texts: the texts' words are indexed once, by word, and each phrase
/// is looked up by its words, so a phrase with a word the texts lack costs one hash look-up, and one
/// that could occur is tried only where its rarest word is.
#[derive(Debug)]
pub(crate) struct Index<'t> {
    texts: &'t [Words],
    /// Each distinct word of the texts, to the positions (text, word) where it occurs.
    positions: HashMap<&'t str, Vec<(u32, u32)>>,
}

/// One occurrence of a phrase: which text, and which of its words (`words.start..words.end`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Occurrence {
    pub(crate) text: usize,
    pub(crate) words: Range<usize>,
}

impl<'t> Index<'t> {
    /// Indexes the words of `texts`.
    pub(crate) fn new(texts: &'t [Words]) -> Self {
        let mut positions: HashMap<&'t str, Vec<(u32, u32)>> = HashMap::new();
        for (t, words) in texts.iter().enumerate() {
            for (w, word) in words.iter().enumerate() {
                positions
                    .entry(word)
                    .or_default()
                    .push((t as u32, w as u32));
            }
        }
        Index { texts, positions }
    }

    /// Every occurrence of `phrase` (as [`phrase`] makes it) in the texts, overlapping ones included,
    /// in text and word order.
    pub(crate) fn find(&self, phrase: &str) -> Vec<Occurrence> {
        // A phrase whose words are not all in the texts cannot occur: most claims stop here.
        let mut rarest: Option<(usize, &Vec<(u32, u32)>)> = None;
        let mut len = 0;
        for (k, word) in phrase.split(' ').enumerate() {
            len += 1;
            match self.positions.get(word) {
                None => return Vec::new(),
                Some(p) if rarest.is_none_or(|(_, r)| p.len() < r.len()) => rarest = Some((k, p)),
                Some(_) => {}
            }
        }
        let Some((k, places)) = rarest else {
            return Vec::new();
        };
        let mut found = Vec::new();
        for &(t, w) in places {
            let (t, w) = (t as usize, w as usize);
            let words = &self.texts[t];
            let Some(start) = w.checked_sub(k) else {
                continue;
            };
            if start + len <= words.len()
                && phrase
                    .split(' ')
                    .enumerate()
                    .all(|(i, p)| i == k || words.word(start + i) == p)
            {
                found.push(Occurrence {
                    text: t,
                    words: start..start + len,
                });
            }
        }
        found
    }
}

/// Line and column (both from 1; the column in characters) of byte `at` of `text`.
pub(crate) fn line_and_column(text: &str, at: usize) -> (usize, usize) {
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// The phrases a guardrail quotes: what is between double quotes (`"…"`, `“…”`, `„…“`, `«…»`), or
/// single quotes that stand apart from words (`'…'`, `‘…’`; an apostrophe inside a word is not a quote).
/// A guardrail such as `Never call a product "a cure"` forbids `a cure`; one without quotes is a rule
/// for people, which a text match cannot check.
pub(crate) fn quoted_phrases(guardrail: &str) -> Vec<String> {
    const PAIRS: [(char, char); 6] = [
        ('"', '"'),
        ('“', '”'),
        ('„', '“'),
        ('«', '»'),
        ('‘', '’'),
        ('\'', '\''),
    ];
    let chars: Vec<(usize, char)> = guardrail.char_indices().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let (at, c) = chars[i];
        let Some(&(_, close)) = PAIRS.iter().find(|(open, _)| *open == c) else {
            i += 1;
            continue;
        };
        let single = c == '\'' || c == '‘';
        if single && i > 0 && chars[i - 1].1.is_alphanumeric() {
            i += 1;
            continue;
        }
        let end = chars[i + 1..]
            .iter()
            .position(|&(_, d)| d == close || (c == '„' && d == '”'));
        let Some(end) = end.map(|e| i + 1 + e) else {
            i += 1;
            continue;
        };
        // A closing single quote must not be followed by a letter (`don't`), else look further.
        if single && chars.get(end + 1).is_some_and(|(_, d)| d.is_alphanumeric()) {
            i += 1;
            continue;
        }
        let inner = &guardrail[at + c.len_utf8()..chars[end].0];
        if phrase(inner).is_some() {
            out.push(inner.trim().to_owned());
        }
        i = end + 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        Words::of(text).iter().map(str::to_owned).collect()
    }

    fn find(text: &str, wording: &str) -> Vec<String> {
        let cuts = vec![Words::of(text)];
        let index = Index::new(&cuts);
        index
            .find(&phrase(wording).unwrap())
            .iter()
            .map(|o| {
                let span = cuts[0].span(o.words.start).start..cuts[0].span(o.words.end - 1).end;
                text[span].to_owned()
            })
            .collect()
    }

    #[test]
    fn case_accents_ligatures_and_widths_fold_away() {
        assert_eq!(words("Crème BRÛLÉE"), ["creme", "brulee"]);
        assert_eq!(words("ﬁbre Ｆｉｂｒｅ"), ["fibre", "fibre"]);
        assert_eq!(
            words("Straße Œuf cœur Ærø Łódź"),
            ["strasse", "oeuf", "coeur", "aero", "lodz"]
        );
        assert_eq!(words("ΥΨΗΛΗ ΠΕΡΙΕΚΤΙΚΟΤΗΤΑ"), ["υψηλη", "περιεκτικοτητα"]);
        assert_eq!(words("低脂肪"), ["低", "脂", "肪"]);
    }

    #[test]
    fn whitespace_punctuation_and_line_breaks_separate_words_and_invisible_marks_do_not() {
        assert_eq!(words("  rich\tin\r\n\nfibre!  "), ["rich", "in", "fibre"]);
        assert_eq!(
            words("low-fat, sugar‑free; d’avoine l'eau"),
            ["low", "fat", "sugar", "free", "d", "avoine", "l", "eau"]
        );
        assert_eq!(
            words("fi\u{ad}bre zero\u{200b}width"),
            ["fibre", "zero", "width"]
        );
        assert_eq!(
            words("0,5 g per 100\u{a0}g"),
            ["0", "5", "g", "per", "100", "g"]
        );
        // One character may be several words, each with that character's span.
        assert_eq!(words("¼ cup"), ["1", "4", "cup"]);
    }

    #[test]
    fn html_tags_separate_words_and_character_references_are_read() {
        assert_eq!(
            words("<p>Rich <strong>in</strong><br/>fibre</p><!-- rich in sugar -->"),
            ["rich", "in", "fibre"]
        );
        assert_eq!(
            words("caf&eacute; &#233;t&#xE9; &Eacute;CRU &amp; co"),
            ["cafe", "ete", "ecru", "co"]
        );
        assert_eq!(words("<script>var x = 'cures colds'</script>ok"), ["ok"]);
        // Not markup: a lone `<` and an unknown reference are text.
        assert_eq!(words("5 < 6 &bogus; x"), ["5", "6", "bogus", "x"]);
    }

    #[test]
    fn a_phrase_matches_on_word_boundaries_across_line_breaks_with_positions_in_the_original() {
        let text = "Our oats are Rich in\n  FIBRE and riche en fibres.\nNot enriched infibre.";
        assert_eq!(find(text, "rich in fibre"), ["Rich in\n  FIBRE"]);
        assert_eq!(find(text, "riche en fibres"), ["riche en fibres"]);
        assert!(find(text, "rich").len() == 1, "enriched is not rich");
        assert!(find(text, "in fibre").len() == 1, "infibre is not in fibre");
        let html = "<p>Crème <em>br&ucirc;l&eacute;e</em></p>";
        assert_eq!(
            find(html, "creme brulee"),
            ["Crème <em>br&ucirc;l&eacute;e"]
        );
    }

    #[test]
    fn negations_are_words_unlike_in_text_search_stop_lists() {
        // PostgreSQL's english configuration drops `no` as a stop word, so a text-search phrase query
        // for "no added sugar" matches "with added sugar"; here the words are all kept.
        assert!(find("Made with added sugar.", "no added sugar").is_empty());
        assert_eq!(
            find("With NO added sugar.", "no added sugar"),
            ["NO added sugar"]
        );
    }

    #[test]
    fn overlapping_occurrences_are_all_found() {
        assert_eq!(find("low low low", "low low").len(), 2);
    }

    #[test]
    fn lines_and_columns_count_from_one_in_characters() {
        let text = "première ligne\ndeuxième: riche";
        let at = text.find("riche").unwrap();
        assert_eq!(line_and_column(text, at), (2, 11));
        assert_eq!(line_and_column(text, 0), (1, 1));
    }

    #[test]
    fn guardrails_forbid_what_they_quote() {
        assert_eq!(
            quoted_phrases(r#"Never call a product "a cure"; avoid “miracle” and 'detox'."#),
            ["a cure", "miracle", "detox"]
        );
        assert_eq!(
            quoted_phrases("Don't say 'superfood' in ads"),
            ["superfood"]
        );
        assert_eq!(quoted_phrases("Ne dites jamais « guérit »"), ["guérit"]);
        assert!(quoted_phrases("Always use sentence case").is_empty());
        assert!(quoted_phrases("Don't mention competitors' prices").is_empty());
    }

    proptest::proptest! {
        #[test]
        fn cutting_never_panics_and_spans_are_char_boundaries_in_order(text in "\\PC{0,80}") {
            let w = Words::of(&text);
            let mut last = 0;
            for i in 0..w.len() {
                let span = w.span(i);
                // One character may give several words (`¼` is `1⁄4`), all with its span.
                proptest::prop_assert!(span.start >= last && span.start < span.end);
                proptest::prop_assert!(text.is_char_boundary(span.start) && text.is_char_boundary(span.end));
                proptest::prop_assert!(!w.word(i).is_empty());
                last = span.start;
            }
        }

        #[test]
        fn any_wording_is_found_in_itself(wording in "[a-zA-Zéèàüß ,.'-]{1,40}") {
            if let Some(p) = phrase(&wording) {
                let cuts = vec![Words::of(&wording)];
                proptest::prop_assert!(!Index::new(&cuts).find(&p).is_empty());
                proptest::prop_assert_eq!(p.split(' ').count(), cuts[0].len());
            }
        }
    }
}
