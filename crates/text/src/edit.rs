//! Edits on spoken tokens before formatting: filler words (FEATURES.md §7) and dictation
//! commands (§6).

use crate::tokens::Tok;

/// The fillers removed unless `filler_words=true`; `mhmm`, `uh-huh` and the like stay.
const REMOVED_FILLERS: &[&str] = &["uh", "um"];

/// Drop `uh` and `um` (no gap filling: the neighbours keep their times).
pub fn drop_fillers(toks: &mut Vec<Tok>) {
    toks.retain(|t| !REMOVED_FILLERS.contains(&t.text.as_str()));
}

const COMMANDS: &[(&[&str], &str)] = &[
    (&["comma"], ","),
    (&["period"], "."),
    (&["full", "stop"], "."),
    (&["colon"], ":"),
    (&["semicolon"], ";"),
    (&["question", "mark"], "?"),
    (&["exclamation", "mark"], "!"),
    (&["exclamation", "point"], "!"),
    (&["new", "line"], "\n"),
    (&["new", "paragraph"], "\n\n"),
];

/// Spoken punctuation commands become marks on the word before them and leave the words
/// (`headache comma nausea` → `headache, nausea`). A command with no word before it is dropped.
pub fn dictation(toks: &mut Vec<Tok>) {
    let mut out: Vec<Tok> = Vec::with_capacity(toks.len());
    let mut k = 0;
    while k < toks.len() {
        let found = COMMANDS.iter().find(|(words, _)| {
            toks.get(k..k + words.len())
                .is_some_and(|w| w.iter().zip(words.iter()).all(|(t, c)| t.text == *c))
        });
        match found {
            Some((words, mark)) => {
                if let Some(prev) = out.last_mut() {
                    if mark.starts_with('\n') {
                        prev.trail.push_str(mark);
                    } else {
                        // The engine's own punctuation there gives way to the spoken mark.
                        let kept: String = prev
                            .trail
                            .chars()
                            .filter(|c| !matches!(c, ',' | '.' | ':' | ';' | '?' | '!'))
                            .collect();
                        prev.trail = format!("{kept}{mark}");
                    }
                }
                k += words.len();
            }
            None => {
                out.push(toks[k].clone());
                k += 1;
            }
        }
    }
    *toks = out;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(text: &str) -> Vec<Tok> {
        text.split(' ')
            .enumerate()
            .map(|(i, w)| {
                let trail: String = w.chars().filter(|c| matches!(c, ',' | '.')).collect();
                let core = w.trim_end_matches([',', '.']);
                Tok {
                    text: core.to_lowercase(),
                    written: core.to_owned(),
                    lead: String::new(),
                    trail,
                    start_s: i as f32,
                    end_s: i as f32 + 1.0,
                    confidence: 1.0,
                }
            })
            .collect()
    }

    fn join(t: &[Tok]) -> String {
        t.iter()
            .map(|t| format!("{}{}", t.written, t.trail))
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn spoken_commands_become_marks() {
        let mut t =
            toks("Patient has a headache, comma nausea comma and vomiting period new line next");
        dictation(&mut t);
        assert_eq!(
            join(&t),
            "Patient has a headache, nausea, and vomiting.\n next"
        );
        let mut t = toks("period What question mark");
        dictation(&mut t);
        assert_eq!(join(&t), "What?");
    }

    #[test]
    fn only_uh_and_um_are_dropped() {
        let mut t = toks("so um I think uh-huh uh we go");
        drop_fillers(&mut t);
        assert_eq!(join(&t), "so I think uh-huh we go");
    }
}
