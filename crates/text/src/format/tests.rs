use super::*;
use crate::test_words::one_per_second;
use crate::tokens::verbalise;

fn toks(text: &str) -> Vec<Tok> {
    verbalise(&one_per_second(text))
}

fn join(pieces: &[Piece]) -> String {
    pieces
        .iter()
        .map(|p| format!("{}{}{}", p.lead, p.written, p.trail))
        .collect::<Vec<_>>()
        .join(" ")
}

fn smart_text(text: &str) -> String {
    let t = toks(text);
    join(&smart(&t, &tag(&t)))
}

#[test]
fn smart_format_writes_the_entities_of_the_checklist() {
    let cases = [
        (
            "the bill came to forty seven dollars",
            "the bill came to $47",
        ),
        (
            "we collected three hundred forty two dollars and ninety nine cents",
            "we collected $342.99",
        ),
        (
            "the deposit is one thousand dollars",
            "the deposit is $1,000",
        ),
        (
            "about the twelve hundred dollar invoice",
            "about the $1,200 invoice",
        ),
        ("twelve dollars and fifty cents", "$12.50"),
        ("worth two point five million dollars", "worth $2,500,000"),
        ("rent is twelve hundred a month", "rent is 1,200 a month"),
        ("growth was twenty percent", "growth was 20%"),
        ("growth was two point five percent", "growth was 2.5%"),
        (
            "there are twenty three people in the room",
            "there are 23 people in the room",
        ),
        ("between five and ten people", "between five and 10 people"),
        (
            "the population is twelve thousand four hundred",
            "the population is 12,400",
        ),
        ("we launched in nineteen ninety nine", "we launched in 1999"),
        ("it was twenty twenty six", "it was 2026"),
        (
            "the meeting is on january fifth",
            "the meeting is on January 5",
        ),
        ("it is april twelfth twenty twenty four", "it is 04/12/2024"),
        (
            "we hired her in april twenty twenty four",
            "we hired her in April 2024",
        ),
        (
            "i am recording this at eight thirty seven pm",
            "i am recording this at 8:37 PM",
        ),
        ("between nine a m and five p m", "between 9 AM and 5 PM"),
        (
            "the train leaves at five forty five",
            "the train leaves at 5:45",
        ),
        (
            "call me at five five five eight six seven five three oh nine",
            "call me at (555) 867-5309",
        ),
        (
            "call me at five five five one two three four",
            "call me at 555-1234",
        ),
        (
            "send it to jane dot doe at example dot com",
            "send it to jane.doe@example.com",
        ),
        ("go to acme dot com slash signup", "go to acme.com/signup"),
        ("i looked at acme dot com", "i looked at acme.com"),
        (
            "the social security number is two two two three three four four four four",
            "the social security number is 222-33-4444",
        ),
        (
            "card four five three two seven seven eight eight nine nine zero zero one one two two",
            "card 4532778899001122",
        ),
        (
            "the case number is seven seven seven eight eight",
            "the case number is 77788",
        ),
        (
            "i walked to one two three main street",
            "i walked to 123 Main Street",
        ),
        ("three hundred main street", "300 Main Street"),
        (
            "the tracking number is one z five seven a two b",
            "the tracking number is 1Z57A2B",
        ),
        (
            "i ate thirty three grams of pasta",
            "i ate 33 grams of pasta",
        ),
        (
            "the third quarter and the twenty first century",
            "the third quarter and the 21st century",
        ),
    ];
    for (spoken, expected) in cases {
        assert_eq!(smart_text(spoken), expected, "{spoken}");
    }
}

#[test]
fn written_input_comes_out_in_our_format() {
    // What Whisper writes, formatted by our rules, not its own.
    assert_eq!(smart_text("The bill came to $47."), "The bill came to $47.");
    assert_eq!(
        smart_text("Call 555-867-5309 now."),
        "Call (555) 867-5309 now."
    );
    assert_eq!(
        smart_text("It's 1,200 people, at 3:30 PM."),
        "It's 1,200 people, at 3:30 PM."
    );
    assert_eq!(smart_text("Email john@acme.com."), "Email john@acme.com.");
    assert_eq!(
        smart_text("In 1999, growth was 20%."),
        "In 1999, growth was 20%."
    );
}

#[test]
fn an_entity_is_one_piece_spanning_its_spoken_words() {
    let t = toks("call me at five five five eight six seven five three oh nine");
    let pieces = smart(&t, &tag(&t));
    let phone = pieces.last().expect("present");
    assert_eq!(phone.written, "(555) 867-5309");
    assert_eq!(phone.tokens, 3..13);
    assert_eq!((phone.start_s, phone.end_s), (3.0, 13.0));
    let spans = tag(&t);
    assert_eq!(spans.last().expect("present").label, PHONE_NUMBER);
}

#[test]
fn numerals_write_digits_without_symbols_or_commas() {
    let n = |s: &str| join(&numerals(&toks(s)));
    assert_eq!(
        n("my account number is nine two eight four"),
        "my account number is 9 2 8 4"
    );
    assert_eq!(
        n("nine hundred ninety nine thousand nine hundred ninety nine"),
        "999999"
    );
    assert_eq!(
        n("my date of birth is june twenty eighth"),
        "my date of birth is june 28th"
    );
    assert_eq!(
        n("forty seven dollars and twenty percent"),
        "47 dollars and 20 percent"
    );
    assert_eq!(n("two point five"), "2.5");
}

#[test]
fn measurements_abbreviate_units_after_digits_only() {
    let t = toks(
        "i ate thirty three grams of pasta and drank fifty five milliliters of water and two grams",
    );
    let mut pieces = smart(&t, &tag(&t));
    measurements(&mut pieces);
    assert_eq!(
        join(&pieces),
        "i ate 33 g of pasta and drank 55 ml of water and two grams"
    );
}

#[test]
fn sentences_start_with_capitals() {
    let t = toks("the bill came to $47. then we left. forty seven dollars? yes");
    let mut pieces = smart(&t, &tag(&t));
    sentence_case(&mut pieces);
    assert_eq!(
        join(&pieces),
        "The bill came to $47. Then we left. $47? Yes"
    );
    let t = toks("jane@acme.com is mine");
    let mut pieces = smart(&t, &tag(&t));
    sentence_case(&mut pieces);
    assert_eq!(join(&pieces), "jane@acme.com is mine");
}
