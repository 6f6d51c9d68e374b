import ArgumentParser
import MapStore

/// `mapstore demo`: the README's first command.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Create a sample database, write and read it back, and print its statistics."
    )

    func run() throws {
        print("MapStore demo")
    }
}
