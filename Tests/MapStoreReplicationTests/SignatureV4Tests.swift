import Testing
@testable import MapStoreReplication

/// ``SignatureV4`` against AWS's published examples: the general test suite's
/// `get-vanilla` and `get-vanilla-query-order-key-case` (service `service`, 2015-08-30) and S3's
/// own "GET Object" example (a ranged read of `test.txt` from `examplebucket`, 2013-05-24).
struct SignatureV4Tests {
    static let suite = SignatureV4(credentials: S3Credentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
                                   region: "us-east-1", service: "service")
    static let emptyHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    @Test func getVanilla() {
        let signed = Self.suite.sign(method: "GET", path: "/", query: [],
                                     headers: [("Host", "example.amazonaws.com"), ("X-Amz-Date", "20150830T123600Z")],
                                     payloadHash: Self.emptyHash, amzDate: "20150830T123600Z")
        #expect(signed.canonicalRequest == "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n\(Self.emptyHash)")
        #expect(signed.stringToSign.hasSuffix("\nbb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"))
        #expect(signed.authorization == "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")
    }

    @Test func queryParametersAreSortedBeforeSigning() {
        let signed = Self.suite.sign(method: "GET", path: "/", query: [("Param2", "value2"), ("Param1", "value1")],
                                     headers: [("host", "example.amazonaws.com"), ("x-amz-date", "20150830T123600Z")],
                                     payloadHash: Self.emptyHash, amzDate: "20150830T123600Z")
        #expect(signed.canonicalRequest.split(separator: "\n", omittingEmptySubsequences: false)[2] == "Param1=value1&Param2=value2")
        #expect(signed.signature == "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500")
    }

    @Test func s3GetObjectExample() {
        let signer = SignatureV4(credentials: S3Credentials(accessKeyID: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
                                 region: "us-east-1")
        let signed = signer.sign(method: "GET", path: "/test.txt", query: [],
                                 headers: [("Host", "examplebucket.s3.amazonaws.com"), ("Range", "bytes=0-9"),
                                           ("x-amz-content-sha256", Self.emptyHash), ("x-amz-date", "20130524T000000Z")],
                                 payloadHash: Self.emptyHash, amzDate: "20130524T000000Z")
        #expect(signed.stringToSign == "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972")
        #expect(signed.signature == "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
        #expect(signed.authorization.contains("SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"))
    }

    @Test func uriEncodingKeepsOnlyUnreservedBytes() {
        #expect(SignatureV4.uriEncode("a b/c~d_e.f-g", keepingSlash: true) == "a%20b/c~d_e.f-g")
        #expect(SignatureV4.uriEncode("a/b=c&d", keepingSlash: false) == "a%2Fb%3Dc%26d")
        #expect(SignatureV4.uriEncode("ሴ", keepingSlash: true) == "%E1%88%B4")
        #expect(SignatureV4.trimmed("  a   b  ") == "a b")
    }

    @Test func listingAndErrorBodiesParse() {
        let listing = ListingParser("""
        <?xml version="1.0"?><ListBucketResult><IsTruncated>true</IsTruncated><Contents><Key>p/a&amp;b</Key><Size>12</Size></Contents>\
        <Contents><Key>p/c</Key><Size>0</Size></Contents><NextContinuationToken>tok</NextContinuationToken></ListBucketResult>
        """)
        #expect(listing.objects == [S3Object(key: "p/a&b", size: 12), S3Object(key: "p/c", size: 0)])
        #expect(listing.truncated && listing.nextToken == "tok")
        #expect(ListingParser.element("Code", in: "<Error><Code>NoSuchKey</Code></Error>") == "NoSuchKey")
        #expect(ListingParser.element("Code", in: "<Error></Error>") == nil)
    }
}
