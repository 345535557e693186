/* Trick (audit): the host's network through sysfs. A portspace hides
 * /proc/net, /proc/sys/net and the interface ioctls, but /sys/class/net
 * (sysfs, tagged with the host's network namespace when it was mounted)
 * lists the host's interfaces with their MAC addresses, state and traffic
 * counters, and as root its files are writable: mtu, flags (up/down),
 * tx_queue_len of the host's interfaces.
 *
 * argv[1]: "list" (any interface visible is a leak) or "write" (writes lo's
 * mtu back unchanged: a successful write is the escape; the host value is
 * checked by the driver, too). The space must see its root's /sys, so the
 * driver runs this one without --root. */
#include <dirent.h>

#include "net.h"

int main(int argc, char** argv) {
    const char* what = argc > 1 ? argv[1] : "list";
    if (!strcmp(what, "list")) {
        DIR* d = opendir("/sys/class/net");
        if (d) {
            struct dirent* e;
            while ((e = readdir(d))) {
                if (e->d_name[0] == '.') continue;
                char path[300], mac[64] = "";
                snprintf(path, sizeof path, "/sys/class/net/%s/address", e->d_name);
                int fd = open(path, O_RDONLY | O_CLOEXEC);
                if (fd >= 0) {
                    read_all(fd, mac, sizeof mac);
                    close(fd);
                    mac[strcspn(mac, "\n")] = 0;
                }
                leak("/sys/class/net lists the host's interface %s (address %s)", e->d_name, mac);
            }
            closedir(d);
        } else {
            note("/sys/class/net: %s", strerror(errno));
        }
    } else {
        char mtu[32] = "";
        int fd = open("/sys/class/net/lo/mtu", O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            read_all(fd, mtu, sizeof mtu);
            close(fd);
        }
        fd = open("/sys/class/net/lo/mtu", O_WRONLY | O_CLOEXEC);
        if (fd >= 0 && *mtu) {
            if (write(fd, mtu, strlen(mtu)) > 0) leak("wrote the host's /sys/class/net/lo/mtu (the same value, %s)", mtu);
            else note("write /sys/class/net/lo/mtu: %s", strerror(errno));
        } else {
            note("open /sys/class/net/lo/mtu for writing: %s", strerror(errno));
        }
        if (fd >= 0) close(fd);
    }
    return net_finish();
}
