/* The floor of a seccomp user-notification round trip on this machine:
 * a child traps getppid() 100000 times; the parent answers each with the
 * least possible work, waiting in the RECV ioctl (mode 0) or in epoll_wait
 * first (mode 1, as the supervisor does), with and without
 * SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP. hsbox's per-call overhead beyond this
 * floor is its handler's own work.
 *
 * usage: bench_notify_floor MODE SYNC   (MODE 0|1, SYNC 0|1) */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <sys/socket.h>
#include <linux/seccomp.h>
#include <linux/filter.h>
#include <linux/audit.h>
#include <time.h>
#include <stddef.h>
#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
int main(int argc,char**argv){ int mode=atoi(argv[1]); int sync=atoi(argv[2]); int sp[2]; socketpair(AF_UNIX,SOCK_STREAM,0,sp);
 pid_t p=fork(); if(!p){ struct sock_filter f[]={BPF_STMT(BPF_LD|BPF_W|BPF_ABS,offsetof(struct seccomp_data,nr)),BPF_JUMP(BPF_JMP|BPF_JEQ|BPF_K,SYS_getppid,0,1),BPF_STMT(BPF_RET|BPF_K,SECCOMP_RET_USER_NOTIF),BPF_STMT(BPF_RET|BPF_K,SECCOMP_RET_ALLOW)};
  struct sock_fprog pr={4,f}; prctl(PR_SET_NO_NEW_PRIVS,1,0,0,0); int l=syscall(SYS_seccomp,SECCOMP_SET_MODE_FILTER,SECCOMP_FILTER_FLAG_NEW_LISTENER,&pr); write(sp[1],&l,4); char c; read(sp[1],&c,1);
  struct timespec a,b; int n=100000; clock_gettime(CLOCK_MONOTONIC,&a); for(int i=0;i<n;i++) getppid(); clock_gettime(CLOCK_MONOTONIC,&b);
  printf("mode=%d sync=%d %.2f us/call\n",mode,sync,((b.tv_sec-a.tv_sec)*1e9+(b.tv_nsec-a.tv_nsec))/n/1000); exit(0);}
 int l; read(sp[0],&l,4); int pfd=syscall(SYS_pidfd_open,p,0); int fd=syscall(SYS_pidfd_getfd,pfd,l,0);
 if(sync){ if(ioctl(fd,SECCOMP_IOCTL_NOTIF_SET_FLAGS,1UL)) perror("sync"); }
 int ep=epoll_create1(0); struct epoll_event ev={.events=EPOLLIN,.data.fd=fd}; epoll_ctl(ep,EPOLL_CTL_ADD,fd,&ev);
 write(sp[0],"g",1);
 for(;;){ if(mode){ struct epoll_event e; if(epoll_wait(ep,&e,1,1000)<=0) { if (waitpid(p,0,WNOHANG)==p) break; continue;} if(e.events&EPOLLHUP) break;}
   struct seccomp_notif n; memset(&n,0,sizeof n); if(ioctl(fd,SECCOMP_IOCTL_NOTIF_RECV,&n)) break;
   struct seccomp_notif_resp r={.id=n.id,.val=42}; ioctl(fd,SECCOMP_IOCTL_NOTIF_SEND,&r);}
 waitpid(p,0,0); return 0;}
