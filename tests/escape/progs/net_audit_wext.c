/* Trick (audit): wireless-extension ioctls (SIOCIWFIRST 0x8B00 ..
 * SIOCIWLAST 0x8BFF) are handled by the kernel's sock_ioctl for ANY socket,
 * before the family's own ioctl, in the socket's network namespace: the
 * host's, for a bridge end made by the supervisor or a unix socket the space
 * makes. The filter's ioctl prefix (policy.cpp) refuses only 0x890B..0x89FF.
 * Where the kernel has CONFIG_WEXT_CORE, SIOCGIWNAME tells an existing
 * interface (EOPNOTSUPP, or its wireless protocol) from a missing one
 * (ENODEV), SIOCGIWESSID/SIOCGIWAP give a wireless interface's network name
 * and access point, and the lookup runs dev_load(), which as root (CAP_SYS_MODULE)
 * may load a kernel module named by the space.
 *
 * Exits 77 when the kernel has no wireless extensions (every SIOCGIW* call
 * is ENOTTY natively too: nothing to test). */
#include <linux/wireless.h> /* also struct ifreq, IFNAMSIZ (linux/if.h): not with <net/if.h> */
#include <sys/ioctl.h>

#include "net.h"

/* errno of SIOCGIWNAME for `name` on `s`, or 0 when it succeeded. */
static int probe(int s, const char* name, char* proto, size_t n) {
    struct iwreq w;
    memset(&w, 0, sizeof w);
    snprintf(w.ifr_name, sizeof w.ifr_name, "%s", name);
    if (ioctl(s, SIOCGIWNAME, &w) == 0) {
        snprintf(proto, n, "%.*s", (int)sizeof w.u.name, w.u.name);
        return 0;
    }
    return errno;
}

int main(void) {
    int emu = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int pair[2];
    if (emu < 0 || socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, pair) < 0) {
        fprintf(stderr, "FAIL: socket: %s\n", strerror(errno));
        return 2;
    }
    int socks[2] = {emu, pair[0]};
    const char* kinds[2] = {"emulated socket", "unix socket"};
    int wext = 0;
    for (int k = 0; k < 2; ++k) {
        char proto[IFNAMSIZ + 1] = "";
        int missing = probe(socks[k], "hsbox-none0", proto, sizeof proto);
        if (missing != ENOTTY) wext = 1;
        static const char* names[] = {"lo", "eth0", "wlan0", "wlp2s0", "ens3", "enp0s3", "docker0"};
        for (size_t i = 0; i < sizeof names / sizeof *names; ++i) {
            int e = probe(socks[k], names[i], proto, sizeof proto);
            if (e == 0) leak("SIOCGIWNAME on a %s: host interface %s is wireless (%s)", kinds[k], names[i], proto);
            else if (e != missing) leak("SIOCGIWNAME on a %s tells host interface %s exists (%s, missing: %s)", kinds[k],
                                        names[i], strerror(e), strerror(missing));
        }
    }
    if (!wext && !esc_leaks) {
        printf("no wireless extensions in this kernel\n");
        return 77;
    }
    return net_finish();
}
