import HoopCLI

/// The executable is only this: every command lives in HoopCLI, which the tests import.
@main
enum Entry {
    static func main() async { await Hoopctl.main() }
}
