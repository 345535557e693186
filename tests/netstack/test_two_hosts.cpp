// Two "hosts" of one HyperSpector (two `hsbox tunnel` processes on loopback)
// talk TCP and UDP over IPv4 and IPv6 through the ESP tunnel; each binds the
// same port (invariant 6); nothing but tunnel peers is reachable (invariant
// 5); a host of another HyperSpector using the same SPIs gets nothing through
// (invariant 7).
#include <signal.h>

#include "catch.hpp"
#include "tunnel_proc.hpp"

using tunneltest::Hosts;

TEST_CASE("two hosts exchange TCP and UDP over IPv4 and IPv6 through the tunnel", "[stack]") {
    Hosts h;
    auto a = h.start("a.toml", {"--echo", "7"});
    auto b = h.start("b.toml", {"--echo", "7"});
    CHECK(b->ask("tcp 10.77.0.1 7 hello-over-esp") == "ok hello-over-esp");
    CHECK(b->ask("udp 10.77.0.1 7 datagram") == "ok datagram");
    CHECK(b->ask("tcp fd77::1 7 six") == "ok six");
    CHECK(b->ask("udp fd77::1 7 six-udp") == "ok six-udp");
    CHECK(a->ask("tcp 10.77.0.2 7 the-other-way") == "ok the-other-way");
    std::string refused = b->ask("tcp 10.77.0.1 9 nobody-listens");
    INFO(refused);
    CHECK(refused.rfind("error ECONNREFUSED", 0) == 0);
    auto sa = a->stats(), sb = b->stats();
    CHECK(sa["rx_packets"] > 0);
    CHECK(sa["rx_packets"] == sb["tx_packets"]);
    CHECK(sb["rx_packets"] == sa["tx_packets"]);
    for (auto* s : {&sa, &sb})
        for (auto& [k, v] : *s)
            if (k.rfind("drop_", 0) == 0 || k.rfind("tx_", 0) == 0 && k != "tx_packets" && k != "tx_bytes")
                CHECK(v == 0);
    CHECK(a->quit() == 0);
    CHECK(b->quit() == 0);
}

TEST_CASE("an 8 MiB TCP stream crosses the tunnel intact, both ways and over IPv6", "[stack]") {
    Hosts h;
    auto a = h.start("a.toml", {"--echo", "7"});
    auto b = h.start("b.toml", {"--echo", "7"});
    CHECK(b->ask("verify 10.77.0.1 7 8388608", 120) == "ok 8388608");
    CHECK(a->ask("verify fd77::2 7 1000001", 120) == "ok 1000001");
    auto sa = a->stats();
    CHECK(sa["tx_errors"] == 0);
    CHECK(sa["drop_replay"] + sa["drop_auth_failed"] + sa["drop_malformed"] == 0);
}

TEST_CASE("the tunnel runs over IPv6 endpoints too", "[stack]") {
    Hosts h(true);
    auto a = h.start("a.toml", {"--echo", "7"});
    auto b = h.start("b.toml", {"--echo", "7"});
    CHECK(b->ask("tcp 10.77.0.1 7 v4-in-v6") == "ok v4-in-v6");
    CHECK(b->ask("udp fd77::1 7 v6-in-v6") == "ok v6-in-v6");
    CHECK(a->stats()["rx_packets"] > 0);
}

TEST_CASE("two spaces bind the same port at once; inside one space it is taken", "[stack][invariant6]") {
    Hosts h;
    auto a = h.start("a.toml", {"--echo", "7"});
    auto b = h.start("b.toml", {"--echo", "7"});  // port 7 again, in another space
    CHECK(a->ask("bind tcp 8080") == "ok");
    CHECK(b->ask("bind tcp 8080") == "ok");
    CHECK(a->ask("bind udp 5353") == "ok");
    CHECK(b->ask("bind udp 5353") == "ok");
    CHECK(b->ask("bind tcp 8080").rfind("error EADDRINUSE", 0) == 0);
    CHECK(b->ask("bind tcp 7").rfind("error EADDRINUSE", 0) == 0);
    // and each space's port 7 answers as its own
    CHECK(a->ask("tcp 10.77.0.2 7 to-b") == "ok to-b");
    CHECK(b->ask("tcp 10.77.0.1 7 to-a") == "ok to-a");
}

TEST_CASE("only tunnel peers are reachable: loopback, host and own addresses give ENETUNREACH",
          "[stack][invariant5]") {
    Hosts h;
    auto a = h.start("a.toml", {"--echo", "7"});
    for (const char* dst : {"127.0.0.1", "127.0.0.2", "0.0.0.0", "10.77.0.1", "10.77.0.3", "192.0.2.1",
                            "255.255.255.255", "224.0.0.1", "::1", "::", "fd77::1", "fd77::3", "::ffff:127.0.0.1"}) {
        INFO(dst);
        CHECK(a->ask(std::string("tcp ") + dst + " 7 x").rfind("error ENETUNREACH", 0) == 0);
        CHECK(a->ask(std::string("udp ") + dst + " 7 x").rfind("error ENETUNREACH", 0) == 0);
    }
    auto s = a->stats();
    CHECK(s["tx_packets"] == 0);  // nothing left the space
}

TEST_CASE("a host of another HyperSpector with the same SPIs sees nothing and reaches nothing",
          "[stack][invariant7]") {
    Hosts h;
    auto a = h.start("a.toml", {"--echo", "7"});
    auto b = h.start("b.toml", {"--echo", "7"});
    auto c = h.start("c.toml", {"--echo", "7", "--timeout-ms", "1500"});
    // C first (A's replay window is empty: C's packets fail authentication),
    // then B, then C again (C's low sequence numbers now fail the replay check
    // before any decryption). Either way: dropped, counted, never answered.
    auto before = a->stats();
    CHECK(c->ask("tcp 10.77.0.1 7 intruder").rfind("error ETIMEDOUT", 0) == 0);
    auto mid = a->stats();
    CHECK(mid["drop_auth_failed"] > before["drop_auth_failed"]);
    CHECK(mid["rx_packets"] == 0);
    CHECK(mid["tx_packets"] == 0);
    CHECK(b->ask("udp 10.77.0.1 7 legit") == "ok legit");  // one packet each way, no stragglers
    auto legit = a->stats();
    CHECK(legit["rx_packets"] == 1);
    CHECK(c->ask("udp 10.77.0.1 7 intruder").rfind("error ETIMEDOUT", 0) == 0);
    CHECK(c->ask("udp fd77::1 7 x").rfind("error ENETUNREACH", 0) == 0);  // not even configured
    auto after = a->stats(), sc = c->stats();
    CHECK(after["drop_auth_failed"] + after["drop_replay"] > legit["drop_auth_failed"] + legit["drop_replay"]);
    CHECK(after["rx_packets"] == legit["rx_packets"]);
    CHECK(after["tx_packets"] == legit["tx_packets"]);  // A never answered C
    CHECK(sc["rx_packets"] == 0);
    CHECK(sc["tx_packets"] > 0);
    // A and B still work after the attack, TCP too
    CHECK(b->ask("tcp 10.77.0.1 7 legit") == "ok legit");
    CHECK(b->ask("udp 10.77.0.1 7 still-fine") == "ok still-fine");
}

TEST_CASE("counters are written to the stats file on SIGUSR1 and at exit", "[stack]") {
    Hosts h;
    std::string stats = h.dir + "/a.stats";
    auto a = h.start("a.toml", {"--echo", "7", "--stats", stats});
    auto b = h.start("b.toml");
    CHECK(b->ask("udp 10.77.0.1 7 one") == "ok one");
    REQUIRE(kill(a->pid(), SIGUSR1) == 0);
    std::string text;
    for (int i = 0; i < 200 && text.find("rx_packets 1\n") == std::string::npos; ++i) {
        usleep(10000);
        std::ifstream f(stats);
        text.assign(std::istreambuf_iterator<char>(f), {});
    }
    CHECK(text.find("rx_packets 1\n") != std::string::npos);
    CHECK(b->ask("udp 10.77.0.1 7 two") == "ok two");
    CHECK(a->quit() == 0);
    std::ifstream f(stats);
    text.assign(std::istreambuf_iterator<char>(f), {});
    CHECK(text.find("rx_packets 2\n") != std::string::npos);
    CHECK(text.find("drop_auth_failed 0\n") != std::string::npos);
}

TEST_CASE("a bad tunnel file stops the front end with a one-line error", "[stack][config]") {
    Hosts h;
    std::ofstream(h.dir + "/bad.toml") << "name = \"x\"\n[local]\nendpoint = \"127.0.0.1:1\"\naddress = \"10.0.0.1\"\nfoo = 1\n";
    tunneltest::Proc p({tunneltest::hsbox_bin(), "tunnel", "--config", h.dir + "/bad.toml"});
    CHECK(p.line(10) == "");
    CHECK(p.quit() == 1);
}
