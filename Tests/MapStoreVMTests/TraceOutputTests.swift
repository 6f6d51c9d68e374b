import Foundation
import MapStoreTestSupport
import MapStoreVM
import Testing

/// The package's one JSON string escaper (trace rows, the shadow report and the CLI's JSON).
@Suite struct TraceOutputTests {
    @Test func jsonStringUsesTheShortEscapesAndHexForOtherControlCharacters() {
        #expect(TraceOutput.jsonString("plain") == "\"plain\"")
        #expect(TraceOutput.jsonString("a\"b\\c") == "\"a\\\"b\\\\c\"")
        #expect(TraceOutput.jsonString("\n\r\t\u{08}\u{0C}") == "\"\\n\\r\\t\\b\\f\"")
        #expect(TraceOutput.jsonString("\u{00}\u{1F}\u{7F}é") == "\"\\u0000\\u001f\u{7F}é\"")
    }

    @Test func jsonStringDecodesBackToTheSameText() throws {
        let text = String((0..<0x80).map { Character(Unicode.Scalar(UInt8($0))) }) + "ünïcødé 🗺️"
        let decoded = try JSONSerialization.jsonObject(with: Data(TraceOutput.jsonString(text).utf8), options: .fragmentsAllowed)
        #expect(decoded as? String == text)
    }
}
