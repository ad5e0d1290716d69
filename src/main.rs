// kilter allocates many small strings and vectors (a snapshot's names and labels, a plan's
// actions, a lint's syntax trees); mimalloc serves them faster than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    kilter::cli::main()
}
