fn main() -> std::process::ExitCode {
    kilter::cli::main()
}
