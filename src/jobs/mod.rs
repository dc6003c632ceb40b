//! Batch jobs over many documents (`tolk batch`): records in ([`input`]), records out with
//! resume ([`output`]).

pub mod input;
pub mod output;
