#include <sys/syscall.h>

#include <set>
#include <string>

#include "catch.hpp"
#include "hsbox/syscall_table.hpp"

using namespace hsbox;

TEST_CASE("the syscall table agrees with the kernel headers on numbers") {
    REQUIRE(syscall_info(SYS_read)->name == "read");
    REQUIRE(syscall_info(SYS_openat)->name == "openat");
    REQUIRE(syscall_info(SYS_execve)->family == Family::Exec);
    REQUIRE(syscall_info(SYS_io_uring_setup)->family == Family::Privileged);
    REQUIRE(syscall_info(SYS_mount)->family == Family::Mount);
    REQUIRE(syscall_by_name("newfstatat")->nr == SYS_newfstatat);
}

TEST_CASE("the syscall table has unique numbers and names in order") {
    std::set<std::string_view> names;
    int last = -1;
    for (auto* s = syscall_table_begin(); s != syscall_table_end(); ++s) {
        REQUIRE(s->nr > last);
        last = s->nr;
        REQUIRE(names.insert(s->name).second);
        REQUIRE(syscall_info(s->nr) == s);
    }
    REQUIRE(max_syscall_nr() == last);
    REQUIRE(max_syscall_nr() >= 450);
}

TEST_CASE("numbers the table lacks have no entry") {
    REQUIRE(syscall_info(-1) == nullptr);
    REQUIRE(syscall_info(max_syscall_nr() + 1) == nullptr);
    REQUIRE(syscall_info(0x40000000 + SYS_read) == nullptr);  // x32 bit
}
