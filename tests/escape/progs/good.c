/* An inside program for exec races: exits 0. */
int main(void) { return 0; }
