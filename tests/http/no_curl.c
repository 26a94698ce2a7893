/* A stand-in libcurl.so.4 without any of libcurl's functions (the test
   http_without_libcurl): qstore starts without it and opening a URL fails with a
   message naming what is missing. */
int qstore_test_not_libcurl(void) { return 0; }
