/* The outside program: exits 42, which the racing programs count as an escape. */
int main(void) { return 42; }
