//! A Rust std program: arguments, environment, a heap, formatting, exit status.
fn main() {
    let args: Vec<String> = std::env::args().collect();
    println!("rust argc={}", args.len());
    for (i, arg) in args.iter().enumerate() {
        println!("argv[{i}]=[{arg}]");
    }
    let x = std::env::var("X").unwrap_or_else(|_| "(unset)".into());
    println!("X=[{x}]");
    let v: Vec<u64> = (0..100_000).collect();
    println!("sum={}", v.iter().sum::<u64>());
    std::process::exit(args.get(1).and_then(|a| a.parse().ok()).unwrap_or(0));
}
