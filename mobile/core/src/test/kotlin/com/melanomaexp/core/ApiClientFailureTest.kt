package com.melanomaexp.core

import org.junit.After
import org.junit.Assert.assertEquals
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test
import java.io.ByteArrayOutputStream
import java.io.IOException
import java.net.ConnectException
import java.net.CookieHandler
import java.net.InetAddress
import java.net.InetSocketAddress
import java.net.Proxy
import java.net.ProxySelector
import java.net.ServerSocket
import java.net.Socket
import java.net.SocketAddress
import java.net.SocketTimeoutException
import java.net.URI
import java.util.concurrent.CopyOnWriteArrayList
import java.util.concurrent.CountDownLatch
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicBoolean
import java.util.concurrent.atomic.AtomicInteger
import java.util.concurrent.atomic.AtomicLong
import kotlin.concurrent.thread

/**
 * Network failures the app must survive: a silent server, a closed port, a user cancel. The tests
 * assert outcomes (the error type and its cause, how many connections the client made); the only
 * clock is a generous bound ([GENEROUS_S]) that tells a working cancel from a hang.
 */
class ApiClientFailureTest {
    private val server = ServerSocket(0, 50, InetAddress.getLoopbackAddress())
    private val accepted = CopyOnWriteArrayList<Socket>()

    /** Accepts connections and never answers (keeps them open until the test ends). */
    private val acceptor = thread(isDaemon = true) {
        try {
            while (true) accepted += server.accept()
        } catch (e: java.io.IOException) {
            // closed in tearDown
        }
    }

    private val silentUrl get() = "http://127.0.0.1:${server.localPort}"

    @After
    fun tearDown() {
        server.close()
        accepted.forEach { it.close() }
        acceptor.join(2000)
    }

    /**
     * How many connections the client has opened to the silent server so far. A marker connection
     * goes through the same FIFO accept queue, so once it is accepted every earlier one is too:
     * the count is exact, not "whatever arrived in time".
     */
    private fun clientConnections(): Int {
        Socket(InetAddress.getLoopbackAddress(), server.localPort).use { marker ->
            val deadline = System.nanoTime() + GENEROUS_S * 1_000_000_000L
            while (accepted.none { it.port == marker.localPort }) {
                check(System.nanoTime() < deadline) { "the marker connection was never accepted" }
                Thread.sleep(10)
            }
            val markerIndex = accepted.indexOfFirst { it.port == marker.localPort }
            accepted.removeAt(markerIndex).close()
            return accepted.size
        }
    }

    /**
     * Waits (up to [GENEROUS_S]) until [requester] is blocked reading the HTTP answer, i.e. inside the
     * JDK's `HttpClient.parseHTTP`; false if it never gets there.
     */
    private fun awaitWaitingForAnswer(requester: Thread): Boolean {
        val deadline = System.nanoTime() + GENEROUS_S * 1_000_000_000L
        while (System.nanoTime() < deadline) {
            if (requester.stackTrace.any { it.className == "sun.net.www.http.HttpClient" && it.methodName == "parseHTTP" }) {
                return true
            }
            Thread.sleep(10)
        }
        return false
    }

    @Test
    fun `a server that never answers is a Timeout that offers retry and on-device`() {
        val client = ApiClient(EndpointConfig(silentUrl, connectTimeoutMs = 60_000, readTimeoutMs = 600))
        val e = assertThrows(ApiError.Timeout::class.java) { client.predict(TestEnv.fixture("lesion.jpg")) }
        // The read timed out: the connection was made (accepted), then no answer came.
        assertTrue("cause: ${e.cause}", e.cause is SocketTimeoutException)
        assertEquals("connections: one attempt, no silent retry", 1, clientConnections())
        assertTrue(e.retryable)
        assertTrue(e.offersOnDevice)
        assertTrue(FlowMachine.describeFailure(e, InferenceMode.REMOTE).canUseOnDevice)
    }

    @Test
    fun `a closed port is a Network error that offers on-device`() {
        val port = ServerSocket(0, 1, InetAddress.getLoopbackAddress()).use { it.localPort }
        val e = assertThrows(ApiError.Network::class.java) {
            ApiClient(EndpointConfig("http://127.0.0.1:$port")).predict(TestEnv.fixture("lesion.jpg"))
        }
        assertTrue("cause: ${e.cause}", e.cause is ConnectException)
        assertTrue(e.offersOnDevice)
        assertTrue(e.message, e.message!!.contains("127.0.0.1:$port"))
    }

    @Test
    fun `cancel from another thread ends a hanging request long before its read timeout`() {
        val cancel = CancellationSignal()
        val client = ApiClient(EndpointConfig(silentUrl, readTimeoutMs = READ_TIMEOUT_MS))
        // Cancel once the request really hangs: the photo is uploaded and the client thread is blocked
        // waiting for the answer (the state this test is about), detected from its stack, not guessed
        // with a sleep. (Cancelling while connecting or right after the upload: the tests below.)
        val requester = Thread.currentThread()
        val sawHang = AtomicBoolean(false)
        val canceller = thread(isDaemon = true) {
            try {
                sawHang.set(awaitWaitingForAnswer(requester))
            } finally {
                cancel.cancel()
            }
        }
        val start = System.nanoTime()
        assertThrows(ApiError.Cancelled::class.java) { client.predict(TestEnv.fixture("lesion.jpg"), cancel = cancel) }
        val seconds = (System.nanoTime() - start) / 1e9
        canceller.join()
        assertTrue("the request never blocked waiting for the answer (has the JDK's HttpClient changed?)",
            sawHang.get())
        // Without a working cancel the read would block for the whole READ_TIMEOUT_MS (then also
        // report Cancelled); anything under half of it can only be the cancel.
        assertTrue("cancel did not end the request: it ran $seconds s of a ${READ_TIMEOUT_MS / 1000} s read timeout",
            seconds < GENEROUS_S)
        assertEquals("connections after the cancelled request", 1, clientConnections())
        // An already-cancelled signal fails at once and never connects.
        assertThrows(ApiError.Cancelled::class.java) { client.predict(TestEnv.fixture("lesion.jpg"), cancel = cancel) }
        assertEquals("connections after a request with a cancelled signal", 1, clientConnections())
    }

    // --- Cancel at the exact points where it used to be lost -------------------------------------
    //
    // Each test below makes the cancel land at one precise point of the request, from another
    // thread, by blocking the request thread in a JDK callback that runs exactly there until cancel()
    // has returned: no sleeps, no timing. The request runs on its own thread; the test takes
    // whichever comes first: the request's outcome, or a sign from the server that the cancel was
    // lost (bytes or a connection that a cancelled request must never send or open). A lost cancel
    // is thus reported at once; GENEROUS_S only guards against a hang.

    @Test
    fun `cancel while the connection is being established ends the request with Cancelled`() {
        val cancel = CancellationSignal()
        WatchingServer { _, bytes ->
            // No connection existed before the cancel: any request byte was sent after it.
            if (bytes > 0) "the server received $bytes request bytes after the cancel: the cancel was lost" else null
        }.use { srv ->
            // HttpURLConnection asks the ProxySelector inside connect(), before the socket exists,
            // which is also the state during the TCP handshake: disconnect() has nothing to close.
            val outcome = JvmHook.onConnecting(srv.port, { cancelFromAnotherThread(cancel) }).use {
                srv.firstOf { client(srv).predict(TestEnv.fixture("lesion.jpg"), cancel = cancel) }
            }
            assertCancelled(outcome)
            val (connections, bytes) = srv.settle()
            assertTrue("connections: $connections", connections <= 1)
            assertEquals("request bytes sent after a cancel during connect", 0L, bytes)
        }
    }

    @Test
    fun `cancel right after the whole body is written ends the request with Cancelled`() {
        val cancel = CancellationSignal()
        val photo = TestEnv.fixture("lesion.jpg")
        WatchingServer { connections, _ ->
            if (connections > 1) "the client opened connection #$connections after the cancel: the cancel was lost" else null
        }.use { srv ->
            // The last progress callback runs after the last byte was written, before the stream is
            // closed and the answer read.
            val lastChunk = ProgressListener { sent, total ->
                if (sent == total) cancelFromAnotherThread(cancel)
            }
            val outcome = srv.firstOf { client(srv).predict(photo, progress = lastChunk, cancel = cancel) }
            assertCancelled(outcome)
            assertEquals("connections", 1, srv.settle().first)
        }
    }

    @Test
    fun `cancel while the request headers are being written ends with Cancelled, not a JDK exception`() {
        val cancel = CancellationSignal()
        WatchingServer { connections, bytes ->
            when {
                connections > 1 -> "the client opened connection #$connections after the cancel: the cancel was lost"
                bytes > 0 -> "the server received $bytes request bytes after the cancel: the cancel was lost"
                else -> null
            }
        }.use { srv ->
            // HttpURLConnection asks the CookieHandler while it writes the request headers, connected
            // but before any byte is sent: a disconnect() there leaves it without a connection
            // (where an unguarded client let a NullPointerException escape).
            val outcome = JvmHook.onWritingHeaders(srv.port, { cancelFromAnotherThread(cancel) }).use {
                srv.firstOf { client(srv).predict(TestEnv.fixture("lesion.jpg"), cancel = cancel) }
            }
            assertCancelled(outcome)
            val (connections, bytes) = srv.settle()
            assertEquals("connections", 1, connections)
            assertEquals("request bytes sent after the cancel", 0L, bytes)
        }
    }

    @Test
    fun `cancel from another thread the moment the server has the whole request ends with Cancelled`() {
        // Not one interleaving but whichever comes: the client may be closing the upload, between
        // the upload and the read, or blocked reading. Every one must end in Cancelled, promptly.
        val cancel = CancellationSignal()
        WatchingServer(onFullRequest = { cancel.cancel() }) { _, _ -> null }.use { srv ->
            assertCancelled(srv.firstOf { client(srv).predict(TestEnv.fixture("lesion.jpg"), cancel = cancel) })
        }
    }

    private fun client(srv: WatchingServer) = ApiClient(EndpointConfig(srv.url, readTimeoutMs = READ_TIMEOUT_MS))

    /** Calls [cancel]`.cancel()` on another thread and returns once it has returned there. */
    private fun cancelFromAnotherThread(cancel: CancellationSignal) {
        val canceller = thread(isDaemon = true, name = "canceller") { cancel.cancel() }
        canceller.join(GENEROUS_S * 1000)
        check(!canceller.isAlive) { "cancel() did not return within $GENEROUS_S s" }
    }

    /** The outcome must be exactly ApiError.Cancelled: not a lost cancel, a hang, a result or another exception. */
    private fun assertCancelled(outcome: Any?) {
        when (outcome) {
            null -> fail("the request neither ended nor showed a lost cancel within $GENEROUS_S s")
            is LostCancel -> fail(outcome.why)
            is Result<*> -> {
                val e = outcome.exceptionOrNull()
                    ?: throw AssertionError("the cancelled request returned ${outcome.getOrNull()}")
                if (e !is ApiError.Cancelled) throw AssertionError("expected ApiError.Cancelled, got $e", e)
            }
            else -> fail("unexpected $outcome")
        }
    }

    private class LostCancel(val why: String)

    /**
     * A server that accepts connections, reads everything and never answers. After every accepted
     * connection and every read, [lost] sees the client's connection and byte counts; the first
     * text it returns is posted as a [LostCancel]. [onFullRequest] runs on the reading thread once
     * a connection has delivered a whole request (headers and Content-Length bytes of body).
     */
    private class WatchingServer(
        private val onFullRequest: (() -> Unit)? = null,
        private val lost: (connections: Int, bytes: Long) -> String?,
    ) : AutoCloseable {
        private val socket = ServerSocket(0, 50, InetAddress.getLoopbackAddress())
        private val events = LinkedBlockingQueue<Any>()
        private val clients = CopyOnWriteArrayList<Socket>()
        private val readers = CopyOnWriteArrayList<Thread>()
        private val connections = AtomicInteger()
        private val bytes = AtomicLong()
        @Volatile private var markerPort = -1
        private val markerAccepted = CountDownLatch(1)

        val port: Int get() = socket.localPort
        val url: String get() = "http://127.0.0.1:$port"

        private val acceptor = thread(isDaemon = true, name = "watching-acceptor") {
            try {
                while (true) {
                    val s = socket.accept()
                    if (s.port == markerPort) {
                        s.close()
                        markerAccepted.countDown()
                        continue
                    }
                    clients += s
                    connections.incrementAndGet()
                    judge()
                    readers += thread(isDaemon = true, name = "watching-reader") { read(s) }
                }
            } catch (e: IOException) {
                // closed
            }
        }

        private fun read(s: Socket) {
            val request = ByteArrayOutputStream()
            var fullSeen = false
            try {
                val buf = ByteArray(16 * 1024)
                val input = s.getInputStream()
                while (true) {
                    val n = input.read(buf)
                    if (n < 0) break
                    bytes.addAndGet(n.toLong())
                    request.write(buf, 0, n)
                    judge()
                    if (!fullSeen && isWholeRequest(request.toByteArray())) {
                        fullSeen = true
                        onFullRequest?.invoke()
                    }
                }
            } catch (e: IOException) {
                // the client reset the connection or the test closed it
            }
        }

        private fun judge() {
            lost(connections.get(), bytes.get())?.let { events.offer(LostCancel(it)) }
        }

        /** Runs [request] on its own thread; returns its Result or a [LostCancel], whichever comes first (null: neither in time). */
        fun firstOf(request: () -> Any?): Any? {
            thread(isDaemon = true, name = "requester") { events.offer(runCatching(request)) }
            return events.poll(GENEROUS_S, TimeUnit.SECONDS)
        }

        /**
         * The client's connections and request bytes, exact once its request has ended: a marker
         * connection goes through the same FIFO accept queue (once it is accepted, so is every
         * client connection before it), then every client connection is read to its end.
         */
        fun settle(): Pair<Int, Long> {
            Socket().use { marker ->
                marker.bind(InetSocketAddress(InetAddress.getLoopbackAddress(), 0))
                markerPort = marker.localPort
                marker.connect(InetSocketAddress(InetAddress.getLoopbackAddress(), port))
                check(markerAccepted.await(GENEROUS_S, TimeUnit.SECONDS)) { "the marker connection was never accepted" }
            }
            for (r in readers) {
                r.join(GENEROUS_S * 1000)
                check(!r.isAlive) { "a client connection was still open after the request ended" }
            }
            return connections.get() to bytes.get()
        }

        override fun close() {
            socket.close()
            clients.forEach { it.close() }
            acceptor.join(GENEROUS_S * 1000)
        }

        private companion object {
            /** True once [bytes] hold a request's headers and its Content-Length bytes of body. */
            fun isWholeRequest(bytes: ByteArray): Boolean {
                val text = String(bytes, Charsets.ISO_8859_1)
                val end = text.indexOf("\r\n\r\n")
                if (end < 0) return false
                val length = Regex("(?im)^content-length:\\s*(\\d+)").find(text.substring(0, end))
                    ?.groupValues?.get(1)?.toLong() ?: 0L
                return bytes.size >= end + 4 + length
            }
        }
    }

    /**
     * Runs an action inside HttpURLConnection at a precise point of a request to 127.0.0.1:[port],
     * through the JDK's process-wide ProxySelector or CookieHandler (restored on close; the suite
     * runs one test at a time). The action runs once, on the request thread.
     */
    private class JvmHook private constructor(private val restore: () -> Unit) : AutoCloseable {
        override fun close() = restore()

        companion object {
            /** Inside connect(), before the socket exists. */
            fun onConnecting(port: Int, action: () -> Unit): JvmHook {
                val previous = ProxySelector.getDefault()
                val once = AtomicBoolean(false)
                ProxySelector.setDefault(object : ProxySelector() {
                    override fun select(uri: URI): List<Proxy> {
                        if (uri.port != port) return previous?.select(uri) ?: listOf(Proxy.NO_PROXY)
                        if (once.compareAndSet(false, true)) action()
                        return listOf(Proxy.NO_PROXY)
                    }

                    override fun connectFailed(uri: URI, sa: SocketAddress, ioe: IOException) {}
                })
                return JvmHook { ProxySelector.setDefault(previous) }
            }

            /** Connected, while the request headers are being written, before any byte is sent. */
            fun onWritingHeaders(port: Int, action: () -> Unit): JvmHook {
                val previous = CookieHandler.getDefault()
                val once = AtomicBoolean(false)
                CookieHandler.setDefault(object : CookieHandler() {
                    override fun get(uri: URI, requestHeaders: Map<String, List<String>>): Map<String, List<String>> {
                        if (uri.port != port) return previous?.get(uri, requestHeaders) ?: emptyMap()
                        if (once.compareAndSet(false, true)) action()
                        return emptyMap()
                    }

                    override fun put(uri: URI, responseHeaders: Map<String, List<String>>) {
                        if (uri.port != port) previous?.put(uri, responseHeaders)
                    }
                })
                return JvmHook { CookieHandler.setDefault(previous) }
            }
        }
    }

    private companion object {
        /** Bound for anything that should take milliseconds: only a hang gets anywhere near it. */
        const val GENEROUS_S = 60L
        const val READ_TIMEOUT_MS = 120_000
    }
}
