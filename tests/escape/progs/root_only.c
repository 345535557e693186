/* Trick (meaningful as root only; the driver skips it otherwise):
 * open_by_handle_at with the handle of the outside secret (ESC_HANDLE: hex
 * of struct file_handle from the driver), chroot, mount, umount, pivot_root
 * and device nodes. All must fail with EPERM. Then the host's configuration
 * through /proc and ioctl: sysctls (core_pattern would run a program as root
 * outside), sysrq-trigger and kernel memory must not open (nothing is ever
 * written), and SIOCSIFFLAGS on lo (with the flags it already has) is EPERM. */
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>

#include "escape.h"

int main(void) {
    const char* token = TOKEN;
    const char* hex = env("ESC_HANDLE");
    unsigned char raw[sizeof(struct file_handle) + MAX_HANDLE_SZ];
    size_t n = strlen(hex) / 2;
    if (n > sizeof raw) n = sizeof raw;
    for (size_t i = 0; i < n; ++i) sscanf(hex + 2 * i, "%2hhx", &raw[i]);
    struct file_handle* fh = (struct file_handle*)raw;
    int rootfd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    long fd = syscall(SYS_open_by_handle_at, rootfd, fh, O_RDONLY);
    if (fd >= 0) {
        leak("open_by_handle_at opened the outside secret");
        if (fd_has_token((int)fd, token)) leak("and read the token");
    } else if (errno != EPERM) {
        fprintf(stderr, "FAIL: open_by_handle_at: %s, expected EPERM\n", strerror(errno));
        esc_leaks++;
    }
    int mid;
    unsigned char h2[sizeof(struct file_handle) + MAX_HANDLE_SZ];
    ((struct file_handle*)h2)->handle_bytes = MAX_HANDLE_SZ;
    expect_fail(name_to_handle_at(AT_FDCWD, "/", (struct file_handle*)h2, &mid, 0), 0, "name_to_handle_at");

    mkdir("/mnt", 0755);
    expect_errno(chroot("/mnt"), EPERM, "chroot(/mnt)");
    expect_errno(chroot("."), EPERM, "chroot(.)");
    expect_errno(mount("none", "/mnt", "tmpfs", 0, NULL), EPERM, "mount(tmpfs)");
    expect_errno(mount("/", "/mnt", NULL, MS_BIND | MS_REC, NULL), EPERM, "mount(bind /)");
    expect_errno(umount2("/", MNT_DETACH), EPERM, "umount2(/)");
    expect_errno(syscall(SYS_pivot_root, "/", "/mnt"), EPERM, "pivot_root");
    expect_errno(syscall(428 /* open_tree */, AT_FDCWD, "/", 1 /* OPEN_TREE_CLONE */), EPERM, "open_tree");
    expect_errno(syscall(430 /* fsopen */, "tmpfs", 0), EPERM, "fsopen");
    expect_errno(mknod("/blockdev", S_IFBLK | 0600, makedev(8, 0)), EPERM, "mknod(block 8:0)");
    expect_errno(mknod("/chardev", S_IFCHR | 0600, makedev(1, 1)), EPERM, "mknod(char 1:1 /dev/mem)");
    expect_errno(mknodat(AT_FDCWD, "/tmp/blk2", S_IFBLK | 0600, makedev(7, 0)), EPERM, "mknodat(block 7:0)");
    struct stat st;
    if (stat("/blockdev", &st) == 0) leak("a block device node exists in the root");

    const char* host_files[][2] = {{"/proc/sys/kernel/core_pattern", "w"}, {"/proc/sys/net/ipv4/ip_forward", "w"},
                                   {"/proc/sysrq-trigger", "w"}, {"/proc/kcore", "r"}, {"/proc/kmsg", "r"}};
    for (size_t i = 0; i < sizeof host_files / sizeof *host_files; ++i) {
        int flags = (host_files[i][1][0] == 'w' ? O_WRONLY : O_RDONLY) | O_CLOEXEC | O_NONBLOCK;
        int hfd = open(host_files[i][0], flags);
        if (hfd >= 0) {
            leak("opened the host's %s (%s)", host_files[i][0], host_files[i][1]);  // and closes it untouched
            close(hfd);
        } else if (errno != EACCES) {
            fprintf(stderr, "FAIL: open %s: %s, expected EACCES\n", host_files[i][0], strerror(errno));
            esc_leaks++;
        }
    }
    int sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "lo");
    if (ioctl(sock, SIOCGIFFLAGS, &ifr) == 0) {
        expect_errno(ioctl(sock, SIOCSIFFLAGS, &ifr), EPERM, "SIOCSIFFLAGS(lo, unchanged flags)");
    } else {
        fprintf(stderr, "FAIL: SIOCGIFFLAGS(lo): %s (a server space may read its interfaces)\n", strerror(errno));
        esc_leaks++;
    }
    return finish();
}
