import Testing
@testable import MapStoreVM

@Suite struct SimulationTranslationTests {
    /// The lecture's Core i7 example. 0x7f6a28a12345 = 0111 1111 0110 1010 0010 1000 1010 0001 0010 0011 0100 0101:
    /// VPO = low 12 bits = 0x345; VPN = 0x7f6a28a12 (36 bits) = 011111110 110101000 101000101 000010010,
    /// i.e. VPN1 = 0b011111110 = 0xfe, VPN2 = 0b110101000 = 0x1a8, VPN3 = 0b101000101 = 0x145,
    /// VPN4 = 0b000010010 = 0x12. The L1 dTLB has 16 sets: TLBI = VPN & 0xf = 0x2, TLBT = VPN >> 4.
    @Test func coreI7SplitOfTheLecturesAddress() {
        let split = Preset.coreI7.split(0x7f6a_28a1_2345)
        #expect(split.vpnFields == [0xfe, 0x1a8, 0x145, 0x12])
        #expect(split.vpo == 0x345)
        #expect(split.vpn == 0x7_f6a2_8a12)
        #expect(split.tlbIndex == 0x2)
        #expect(split.tlbTag == 0x7f6a_28a1)
    }

    /// CSAPP 9.6.4's small system: 14-bit VA, 64-byte pages (VPO = 6 bits), 8-bit VPN, a 4-set
    /// TLB (TLBI = low 2 bits of the VPN, TLBT = the high 6).
    /// 0x03d4 = 00 0011 1101 0100: VPO = 010100 = 0x14, VPN = 00001111 = 0x0f, TLBI = 11 = 3, TLBT = 000011 = 3.
    /// 0x027c = 00 0010 0111 1100: VPO = 111100 = 0x3c, VPN = 00001001 = 0x09, TLBI = 01 = 1, TLBT = 000010 = 2.
    /// 0x03a9 = 00 0011 1010 1001: VPO = 101001 = 0x29, VPN = 00001110 = 0x0e, TLBI = 10 = 2, TLBT = 3.
    /// 0x0040: VPO = 0, VPN = 1, TLBI = 1, TLBT = 0.
    @Test(arguments: [
        (UInt64(0x03d4), UInt64(0x0f), UInt64(0x14), UInt64(3), UInt64(3)),
        (0x027c, 0x09, 0x3c, 1, 2),
        (0x03a9, 0x0e, 0x29, 2, 3),
        (0x0040, 0x01, 0x00, 1, 0),
    ])
    func csappSmallSplits(va: UInt64, vpn: UInt64, vpo: UInt64, tlbi: UInt64, tlbt: UInt64) {
        let split = Preset.csappSmall.split(va)
        #expect(split.vpnFields == [vpn])
        #expect(split.vpo == vpo)
        #expect(split.tlbIndex == tlbi)
        #expect(split.tlbTag == tlbt)
    }

    /// In csapp-small, the first data frame is PFN 1, so VA 0x03d4 (VPN 0x0f, VPO 0x14)
    /// written first translates to PA = 1 << 6 | 0x14 = 0x54.
    @Test func csappSmallTranslatesThroughItsOneLevelTable() throws {
        let (kernel, accesses) = try replay("""
            preset csapp-small
            spawn A
            mmap A 0x3c0 0x40 rw private anon
            w A 0x3d4 5
            r A 0x3d4
            """)
        #expect(accesses.map(\.pa) == [0x54, 0x54])
        #expect(accesses[1].tlbHit)
        // One level: a walk is one PTE read.
        #expect(kernel.counters.walkReads == kernel.counters.walks)
        #expect(kernel.pte(pid: 0, va: 0x3d4).ppn == 1)
    }

    @Test func presetsHaveTheDesignedTLBs() {
        #expect(Preset.coreI7.tlbs == [TLBGeometry(entries: 64, ways: 4), TLBGeometry(entries: 512, ways: 4)])
        #expect(Preset.skylake.tlbs[1].sets == 128)
        #expect(Preset.csappSmall.tlbs[0].sets == 4)
        #expect(Preset.named("nope") == nil)
    }
}
