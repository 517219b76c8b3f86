#!/usr/bin/python3
"""EDNS(0) handling, truncation, and malformed / unsupported packets."""
import os
import random
import socket
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kgtest  # noqa: E402
from kgtest import (dns, query, answer_rdata, expected_rdata, make_query, udp_raw,  # noqa: E402
                    frame, tcp_connect, tcp_read_msg)


def header(qid, flags, qd=1, an=0, ns=0, ar=0):
    return struct.pack("!HHHHHH", qid, flags, qd, an, ns, ar)


def question(name, qtype=1, qclass=1):
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\x00" + struct.pack("!HH", qtype, qclass)


def parse_header(wire):
    qid, flags, qd, an, ns, ar = struct.unpack("!HHHHHH", wire[:12])
    return {"id": qid, "qr": flags >> 15, "opcode": (flags >> 11) & 0xF, "tc": (flags >> 9) & 1,
            "rcode": flags & 0xF, "qd": qd, "an": an}


class EdnsTest(kgtest.KGTestCase):

    def test_server_advertises_1232(self):
        up, d = self.start_pair()
        r = query(d.port, "www.kg.test.", "A", edns=0, payload=4096)
        self.assertEqual(r.edns, 0, "no OPT in the reply to an EDNS query")
        self.assertEqual(r.payload, 1232)
        self.assertEqual(answer_rdata(r, "A"), {"192.0.2.1"})

    def test_no_opt_without_edns(self):
        up, d = self.start_pair()
        r = query(d.port, "www.kg.test.", "A")  # no EDNS
        self.assertEqual(r.edns, -1, "OPT in the reply to a query without EDNS (RFC 6891 7)")

    def test_truncation_without_edns_512(self):
        up, d = self.start_pair()
        q = make_query("big.kg.test.", "TXT")  # no EDNS -> 512 bytes
        w = udp_raw(d.port, q.to_wire())
        self.assertIsNotNone(w, "no UDP reply")
        self.assertLessEqual(len(w), 512)
        h = parse_header(w)
        self.assertEqual(h["id"], q.id)
        self.assertEqual(h["tc"], 1, "big answer over 512-byte UDP not marked TC")
        # the client's TCP retry gets everything
        r = query(d.port, "big.kg.test.", "TXT", tcp=True)
        self.assertEqual(answer_rdata(r, "TXT"), expected_rdata("big.kg.test.", "TXT"))

    def test_truncation_to_client_edns_buffer(self):
        up, d = self.start_pair()
        for size in (512, 1232):
            q = make_query("big.kg.test.", "TXT", edns=0, payload=size)
            w = udp_raw(d.port, q.to_wire())
            self.assertIsNotNone(w, "no UDP reply (buffer %d)" % size)
            self.assertLessEqual(len(w), size, "reply bigger than client buffer %d" % size)
            self.assertEqual(parse_header(w)["tc"], 1, "TC not set (buffer %d)" % size)
        # small answer with small buffer: no TC
        q = make_query("www.kg.test.", "A", edns=0, payload=512)
        w = udp_raw(d.port, q.to_wire())
        self.assertEqual(parse_header(w)["tc"], 0)

    def test_default_caps_udp_at_1232(self):
        """The default max_udp_size (1232, DNS flag day 2020) bounds UDP answers even for a
        client offering 4096: fragmented UDP is what off-path spoofing attacks ride on."""
        up, d = self.start_pair()
        q = make_query("big.kg.test.", "TXT", edns=0, payload=4096)
        w = udp_raw(d.port, q.to_wire())
        self.assertIsNotNone(w)
        self.assertLessEqual(len(w), 1232)
        self.assertEqual(parse_header(w)["tc"], 1, "a 3.1 KB answer must be truncated at 1232")

    def test_large_buffer_gets_full_answer(self):
        """Issue: 'a client asking ... with a large EDNS buffer gets the full big answer' --
        up to the operator's max_udp_size, raised here to 4096."""
        up, d = self.start_pair({"server": {"max_udp_size": "4096"}})
        q = make_query("big.kg.test.", "TXT", edns=0, payload=4096)
        w = udp_raw(d.port, q.to_wire())
        self.assertIsNotNone(w)
        self.assertEqual(parse_header(w)["tc"], 0, "TC=1 for a 4096-byte buffer (answer ~3.1 KB)")
        r = dns.message.from_wire(w)
        self.assertEqual(answer_rdata(r, "TXT"), expected_rdata("big.kg.test.", "TXT"))

    def test_do_bit_passed_upstream(self):
        up, d = self.start_pair()
        before = up.stats().get("num.query.edns.DO", 0)
        r = query(d.port, "n5.kg.test.", "A", edns=0, do=True)
        self.assertEqual(answer_rdata(r, "A"), expected_rdata("n5.kg.test.", "A"))
        self.assertEqual(up.count("n5.kg.test.", "A"), 1)
        self.assertGreaterEqual(up.stats().get("num.query.edns.DO", 0) - before, 1,
                                "the upstream never saw DO=1")

    def test_do_bit_echoed(self):
        up, d = self.start_pair()
        r = query(d.port, "n6.kg.test.", "A", edns=0, do=True)
        self.assertTrue(r.ednsflags & dns.flags.DO, "DO not copied into the reply (RFC 3225)")


class MalformedTest(kgtest.KGTestCase):

    def setUp(self):
        self.up, self.d = self.start_pair()

    def expect_rcode(self, wire, rcode, qid):
        w = udp_raw(self.d.port, wire)
        self.assertIsNotNone(w, "no reply; expected %s" % dns.rcode.to_text(rcode))
        h = parse_header(w)
        self.assertEqual(h["qr"], 1)
        self.assertEqual(h["id"], qid, "reply ID does not match")
        self.assertEqual(dns.rcode.to_text(h["rcode"]), dns.rcode.to_text(rcode))
        self.assertAliveAndAnswering(self.d)
        return h

    def test_qdcount_zero_formerr(self):
        self.expect_rcode(header(0x1234, 0x0100, qd=0), dns.rcode.FORMERR, 0x1234)

    def test_qdcount_two_formerr(self):
        wire = header(0x2345, 0x0100, qd=2) + question("www.kg.test") + question("n1.kg.test")
        self.expect_rcode(wire, dns.rcode.FORMERR, 0x2345)

    def test_garbage_after_header_formerr(self):
        wire = header(0x3456, 0x0100, qd=1) + b"\x3fabc\xff\xfe"  # label runs past the end
        self.expect_rcode(wire, dns.rcode.FORMERR, 0x3456)

    def test_question_missing_type_class_formerr(self):
        wire = header(0x3457, 0x0100, qd=1) + b"\x03www\x02kg\x04test\x00\x00"
        self.expect_rcode(wire, dns.rcode.FORMERR, 0x3457)

    def test_unknown_opcodes_notimp(self):
        for opcode in (2, 15):
            with self.subTest(opcode=opcode):
                qid = 0x4000 + opcode
                wire = header(qid, 0x0100 | (opcode << 11)) + question("www.kg.test")
                h = self.expect_rcode(wire, dns.rcode.NOTIMP, qid)
                self.assertEqual(h["opcode"], opcode)

    def test_qr_set_gets_no_answer(self):
        wire = header(0x5555, 0x8100) + question("www.kg.test")
        self.assertIsNone(udp_raw(self.d.port, wire, timeout=1.0), "replied to a response (QR=1)")
        self.assertEqual(self.up.count("www.kg.test.", "A"), 0, "a QR=1 packet was forwarded")
        self.assertAliveAndAnswering(self.d)

    def test_short_packets(self):
        for wire in (b"", b"\x12", b"\x12\x34\x01", b"\x12\x34\x01\x00\x00\x01\x00"):
            w = udp_raw(self.d.port, wire, timeout=0.3)
            if w is not None:
                self.assertEqual(parse_header(w)["qr"], 1)
        self.assertAliveAndAnswering(self.d)

    def test_random_garbage_fuzz(self):
        """300 seeded random packets; every reply is a response; daemon keeps answering."""
        rnd = random.Random(7766)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(s.close)
        s.settimeout(0.01)
        base = make_query("www.kg.test.", "A").to_wire()
        for i in range(300):
            if i % 2:
                pkt = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, 80)))
            else:  # mutate a valid query
                pkt = bytearray(base)
                for _ in range(rnd.randint(1, 6)):
                    pkt[rnd.randrange(len(pkt))] = rnd.getrandbits(8)
                pkt = bytes(pkt)
            s.sendto(pkt, ("127.0.0.1", self.d.port))
            try:
                while True:
                    w, _ = s.recvfrom(65535)
                    if len(w) >= 12:
                        self.assertEqual(parse_header(w)["qr"], 1, "reply without QR")
            except socket.timeout:
                pass
        self.assertAliveAndAnswering(self.d)

    def test_malformed_over_tcp(self):
        s = tcp_connect(self.d.port)
        self.addCleanup(s.close)
        s.settimeout(3)
        s.sendall(frame(header(0x6666, 0x0100, qd=0)))
        try:
            w = tcp_read_msg(s)
        except (ConnectionResetError, socket.timeout) as e:
            self.fail("no FORMERR and no clean close over TCP: %r" % e)
        if w is not None:  # a reply must be FORMERR; closing the connection is also allowed
            h = parse_header(w)
            self.assertEqual(h["id"], 0x6666)
            self.assertEqual(h["rcode"], dns.rcode.FORMERR)
        r = query(self.d.port, "www.kg.test.", "A", tcp=True)
        self.assertEqual(answer_rdata(r, "A"), {"192.0.2.1"})
        self.assertAliveAndAnswering(self.d)


if __name__ == "__main__":
    kgtest.main()
