import Testing
@testable import MapStore

@Suite struct ErrorTests {
    @Test func descriptionsNameWhatAndWhere() {
        let error = MapStoreError.corrupted(page: 7, reason: "slot 3 points past the page end")
        #expect(error.code == "corrupted")
        #expect(error.description.contains("page 7"))
        let io = MapStoreError.io(errno: 2, operation: "open", path: "/nope")
        #expect(io.description.contains("/nope"))
        #expect(io.description.contains("open"))
    }
}
