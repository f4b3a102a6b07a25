//! From the encoder's output to timed words: greedy decoding with OpenAI's rules and temperature
//! fallback ([`greedy`]), beam search ([`beam`]), word timestamps by DTW over the alignment
//! heads' cross-attention ([`align`]) with words stretched over pauses cut back ([`words`]), and
//! the tokenizer ([`tokenizer`]).

pub mod align;
pub mod beam;
pub mod greedy;
pub mod tokenizer;
pub(crate) mod words;
