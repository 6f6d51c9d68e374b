import Foundation
import MapStore
import MapStoreFoundation

// Encode and decode per value of a representative typed-table value (`Order` below: a few
// strings, ints, a double, a bool, an optional and two arrays), with the binary coder and with
// Foundation's JSONEncoder and JSONDecoder, through the `ValueCoder` a typed table calls. Each
// pass codes every value once; the median of the passes is reported as ns/value, with the
// encoded size.

let usage = """
usage: coder-bench [--values N] [--repeat K] [--coder binary|json]
  --values N   distinct values coded per pass (default 100000)
  --repeat K   passes per coder and direction, the median is reported (default 5)
  --coder C    only this coder (to profile it)
"""

func fail(_ message: String) -> Never {
    FileHandle.standardError.write((message + "\n" + usage + "\n").data(using: .utf8)!)
    exit(2)
}

var count = 100_000
var repeats = 5
var only: String?
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    switch argument {
    case "--values":
        guard let n = arguments.popFirst().flatMap({ Int($0) }), n > 0 else { fail("--values: not a positive number") }
        count = n
    case "--repeat":
        guard let k = arguments.popFirst().flatMap({ Int($0) }), k > 0 else { fail("--repeat: not a positive number") }
        repeats = k
    case "--coder":
        guard let name = arguments.popFirst(), ["binary", "json"].contains(name) else { fail("--coder: binary or json") }
        only = name
    case "-h", "--help": print(usage); exit(0)
    default: fail("unknown argument \(argument)")
    }
}

struct Order: Codable, Equatable {
    var id: Int
    var customer: String
    var email: String
    var items: [String]
    var quantities: [Int]
    var total: Double
    var paid: Bool
    var note: String?
    var createdAt: Int64
}

/// Distinct values, the same for every run (a fixed linear congruential sequence).
func makeOrders(_ count: Int) -> [Order] {
    var state: UInt64 = 0x9E37_79B9_7F4A_7C15
    func next() -> UInt64 {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return state >> 17
    }
    let products = ["apple", "pear", "fig", "plum", "cherry", "grape", "kiwi", "mango"]
    return (0..<count).map { i in
        let lines = 1 + Int(next() % 5)
        return Order(id: i, customer: "customer-\(next() % 50_000)", email: "user\(next() % 100_000)@example.com",
                     items: (0..<lines).map { _ in products[Int(next() % UInt64(products.count))] },
                     quantities: (0..<lines).map { _ in Int(next() % 20) + 1 },
                     total: Double(next() % 100_000) / 100, paid: next() % 2 == 0,
                     note: next() % 4 == 0 ? "leave at the door" : nil, createdAt: 1_700_000_000 + Int64(next() % 10_000_000))
    }
}

func median(_ samples: [Double]) -> Double { samples.sorted()[samples.count / 2] }

func nanoseconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) * 1e9 + Double(duration.components.attoseconds) / 1e9
}

struct Result {
    var coder: String
    var encodeNs: Double
    var decodeNs: Double
    var bytes: Double
}

func measure(_ name: String, _ coder: some ValueCoder, _ orders: [Order]) throws -> Result {
    let clock = ContinuousClock()
    var encoded: [[UInt8]] = []
    var encodeSamples: [Double] = []
    var decodeSamples: [Double] = []
    for _ in 0..<repeats {
        var output: [[UInt8]] = []
        output.reserveCapacity(orders.count)
        let elapsed = try clock.measure {
            for order in orders { output.append(try coder.encode(order)) }
        }
        encodeSamples.append(nanoseconds(elapsed) / Double(orders.count))
        encoded = output
    }
    for _ in 0..<repeats {
        var checksum = 0
        let elapsed = try clock.measure {
            for bytes in encoded {
                let order = try bytes.withUnsafeBytes { try coder.decode(Order.self, from: $0) }
                checksum &+= order.id &+ order.items.count
            }
        }
        decodeSamples.append(nanoseconds(elapsed) / Double(orders.count))
        precondition(checksum == orders.reduce(0) { $0 &+ $1.id &+ $1.items.count }, "\(name) decoded other values")
    }
    // Both coders must give back what they were given.
    for (order, bytes) in zip(orders, encoded).prefix(1000) {
        let decoded = try bytes.withUnsafeBytes { try coder.decode(Order.self, from: $0) }
        precondition(decoded == order, "\(name) round trip")
    }
    let bytes = Double(encoded.reduce(0) { $0 + $1.count }) / Double(encoded.count)
    return Result(coder: name, encodeNs: median(encodeSamples), decodeNs: median(decodeSamples), bytes: bytes)
}

let orders = makeOrders(count)
if let only {
    let result = only == "binary" ? try measure("binary", BinaryValueCoder(), orders) : try measure("json", JSONValueCoder(), orders)
    print("\(only): encode \(Int(result.encodeNs)) ns/value, decode \(Int(result.decodeNs)) ns/value, \(result.bytes) bytes/value")
    exit(0)
}
// The binary coder runs before and after JSON (the faster of its two runs is kept), so it is
// not favoured or penalised by going first on a warming machine.
var results: [Result] = []
results.append(try measure("binary", BinaryValueCoder(), orders))
results.append(try measure("json", JSONValueCoder(), orders))
let binaryAgain = try measure("binary", BinaryValueCoder(), orders)
results[0].encodeNs = min(results[0].encodeNs, binaryAgain.encodeNs)
results[0].decodeNs = min(results[0].decodeNs, binaryAgain.decodeNs)

print("values \(count), passes \(repeats) (median); Order: an Int, 2 Strings, [String] and [Int] of 1-5, a Double, a Bool, a String? (nil 3 in 4), an Int64")
print("coder     encode ns/value   decode ns/value   bytes/value")
for result in results {
    print(result.coder.padding(toLength: 10, withPad: " ", startingAt: 0)
          + String(format: "%15.0f   %15.0f   %11.1f", result.encodeNs, result.decodeNs, result.bytes))
}
let (binary, json) = (results[0], results[1])
print(String(format: "json / binary: encode %.1fx, decode %.1fx, size %.2fx",
             json.encodeNs / binary.encodeNs, json.decodeNs / binary.decodeNs, json.bytes / binary.bytes))
