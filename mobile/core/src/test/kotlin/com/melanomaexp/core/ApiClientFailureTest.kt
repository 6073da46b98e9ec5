package com.melanomaexp.core

import org.junit.After
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test
import java.net.InetAddress
import java.net.ServerSocket
import java.net.Socket
import java.util.concurrent.CopyOnWriteArrayList
import kotlin.concurrent.thread

/** Network failures the app must survive: a silent server, a closed port, a user cancel. */
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

    @Test
    fun `a server that never answers is a Timeout that offers retry and on-device`() {
        val client = ApiClient(EndpointConfig(silentUrl, connectTimeoutMs = 2000, readTimeoutMs = 600))
        val start = System.nanoTime()
        val e = assertThrows(ApiError.Timeout::class.java) { client.predict(TestEnv.fixture("lesion.jpg")) }
        val seconds = (System.nanoTime() - start) / 1e9
        assertTrue("gave up after the read timeout, took $seconds s", seconds in 0.5..5.0)
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
        assertTrue(e.offersOnDevice)
        assertTrue(e.message, e.message!!.contains("127.0.0.1:$port"))
    }

    @Test
    fun `cancel from another thread ends a hanging request at once`() {
        val cancel = CancellationSignal()
        val client = ApiClient(EndpointConfig(silentUrl, readTimeoutMs = 20_000))
        thread(isDaemon = true) {
            Thread.sleep(300)
            cancel.cancel()
        }
        val start = System.nanoTime()
        assertThrows(ApiError.Cancelled::class.java) { client.predict(TestEnv.fixture("lesion.jpg"), cancel = cancel) }
        val seconds = (System.nanoTime() - start) / 1e9
        assertTrue("cancelled promptly, took $seconds s", seconds < 5.0)
        assertThrows(ApiError.Cancelled::class.java) { client.predict(TestEnv.fixture("lesion.jpg"), cancel = cancel) }
    }
}
