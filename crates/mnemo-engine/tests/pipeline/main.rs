//! The memory pipeline end to end: the engine's jobs run through the real Ollama client
//! against a local fake server that scripts whole conversations. Linked as one test binary.

mod durability;
mod harness;
mod providers;
mod robust;
mod steps;
