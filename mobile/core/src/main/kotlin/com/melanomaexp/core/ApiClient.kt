package com.melanomaexp.core

import java.io.IOException
import java.io.InputStream
import java.net.ConnectException
import java.net.HttpURLConnection
import java.net.NoRouteToHostException
import java.net.SocketTimeoutException
import java.net.URL
import java.net.UnknownHostException

/** Where and how to reach the endpoint; built from the settings screen. */
data class EndpointConfig(
    val baseUrl: String,
    val apiKey: String? = null,
    val connectTimeoutMs: Int = 10_000,
    val readTimeoutMs: Int = 30_000,
    val apiKeyHeader: String = DEFAULT_API_KEY_HEADER,
) {
    init {
        require(baseUrl.startsWith("http://") || baseUrl.startsWith("https://")) {
            "endpoint URL must start with http:// or https://, got '$baseUrl'"
        }
        require(connectTimeoutMs > 0 && readTimeoutMs > 0) { "timeouts must be positive" }
    }

    companion object {
        /** The header the serving app reads the key from (API Gateway uses the same name). */
        const val DEFAULT_API_KEY_HEADER = "X-API-Key"
    }
}

/**
 * Lets the UI cancel a running request from another thread. Cancelling disconnects the request's
 * connection, which makes a blocked read or write fail at once; the client reports
 * [ApiError.Cancelled].
 *
 * The flag and the registered connections change together under one lock, so a connection is
 * either registered before the cancel (and disconnected by it) or refused because the cancel came
 * first (the request then ends with Cancelled without connecting). A disconnect cannot stop every
 * stage (nothing to close while connecting; the JDK reconnects for the read after a disconnect
 * between upload and read), so the client also checks the flag after connecting and after
 * uploading, and reports any failure raised while the flag is set as Cancelled.
 */
class CancellationSignal {
    private val lock = Any()

    @Volatile
    private var cancelled = false
    private val connections = LinkedHashSet<HttpURLConnection>() // guarded by lock

    val isCancelled: Boolean get() = cancelled

    /** Cancels the request; safe to call at any time, from any thread, any number of times. */
    fun cancel() {
        val toAbort = synchronized(lock) {
            cancelled = true
            connections.toList().also { connections.clear() }
        }
        toAbort.forEach(::abort)
    }

    /**
     * Registers [conn] (before it connects) so that a cancel reaches it; false, without registering,
     * when the signal is already cancelled.
     */
    internal fun attach(conn: HttpURLConnection): Boolean = synchronized(lock) {
        if (cancelled) return false
        connections.add(conn)
        true
    }

    /** Forgets [conn] once its request has ended. */
    internal fun detach(conn: HttpURLConnection) {
        synchronized(lock) { connections.remove(conn) }
    }

    private fun abort(conn: HttpURLConnection) {
        // disconnect() has nothing to close while the JDK is still connecting, and when it lands
        // between the upload and the read the JDK opens a new connection for the read. Minimal
        // timeouts make such a connect or read give up at once instead of running the full
        // timeouts; the request then sees the flag and ends with Cancelled.
        try {
            conn.connectTimeout = 1
            conn.readTimeout = 1
        } catch (e: RuntimeException) {
            // an implementation that refuses new timeouts at this stage: the disconnect still counts
        }
        conn.disconnect()
    }
}

/** Upload progress: bytes sent of the total body. */
fun interface ProgressListener {
    fun onProgress(sent: Long, total: Long)
}

/**
 * Blocking client for HTTP API v1 (contract 5) on plain HttpURLConnection, so the same code runs on
 * Android and in the JVM tests. Call it off the main thread. The photo is sent once, as the
 * multipart field `image`, and never stored.
 */
class ApiClient(private val config: EndpointConfig) {
    private val base = config.baseUrl.trimEnd('/')

    /**
     * Uploads [image] to `POST /v1/predict` and parses the answer; throws a typed [ApiError]. With
     * [explain] it asks `?explain=1`: the answer then carries where the model looked
     * ([Prediction.explanation]; a server that predates it answers without).
     */
    fun predict(
        image: ByteArray,
        contentType: String = "image/jpeg",
        progress: ProgressListener? = null,
        cancel: CancellationSignal = CancellationSignal(),
        explain: Boolean = false,
    ): Prediction {
        val body = MultipartBody("image", "photo." + contentType.substringAfter('/'), contentType, image)
        val path = if (explain) "/v1/predict?explain=1" else "/v1/predict"
        val text = exchange("POST", path, body.contentType, body.bytes, progress, cancel)
        return try {
            ApiJson.parsePrediction(text)
        } catch (e: ContractException) {
            throw ApiError.InvalidResponse("unexpected answer from $base$path: ${e.message}", e)
        }
    }

    /** `GET /v1/model`: the served model's model.json (minus internals). */
    fun model(cancel: CancellationSignal = CancellationSignal()): ModelSpec {
        val text = exchange("GET", "/v1/model", null, null, null, cancel)
        return try {
            ModelJson.parse(text)
        } catch (e: ContractException) {
            throw ApiError.InvalidResponse("unexpected answer from ${base}/v1/model: ${e.message}", e)
        }
    }

    /** `GET /health`: true when the endpoint answers 200. */
    fun isHealthy(): Boolean = try {
        exchange("GET", "/health", null, null, null, CancellationSignal())
        true
    } catch (e: ApiError) {
        false
    }

    private fun exchange(
        method: String,
        path: String,
        contentType: String?,
        body: ByteArray?,
        progress: ProgressListener?,
        cancel: CancellationSignal,
    ): String {
        if (cancel.isCancelled) throw ApiError.Cancelled()
        val conn = try {
            URL(base + path).openConnection() as HttpURLConnection
        } catch (e: IOException) {
            throw ApiError.Network("cannot open $base$path: ${e.message}", e)
        }
        try {
            conn.requestMethod = method
            conn.connectTimeout = config.connectTimeoutMs
            conn.readTimeout = config.readTimeoutMs
            conn.useCaches = false
            conn.setRequestProperty("Accept", "application/json")
            config.apiKey?.takeIf { it.isNotEmpty() }?.let { conn.setRequestProperty(config.apiKeyHeader, it) }
            if (body != null) {
                conn.doOutput = true
                conn.setRequestProperty("Content-Type", contentType)
                conn.setFixedLengthStreamingMode(body.size.toLong())
            }
            // From here on a cancel reaches this connection; one that came first ends the request now.
            if (!cancel.attach(conn)) throw ApiError.Cancelled()
            conn.connect()
            // A cancel during connect() found no socket to close: it is seen here, before any byte is sent.
            if (cancel.isCancelled) throw ApiError.Cancelled()
            var uploadError: IOException? = null
            if (body != null) {
                uploadError = upload(conn, body, progress)
                // A cancel during or right after the upload dropped the connection; reading now would
                // fail on it or (JDK) silently open a new one and wait for an answer that never comes.
                if (cancel.isCancelled) throw ApiError.Cancelled()
            }
            // A server may refuse a body early (413) and close; its answer is still the best error.
            val status = try {
                conn.responseCode
            } catch (e: IOException) {
                throw uploadError ?: e
            }
            val text = readAll(if (status in 200..299) conn.inputStream else conn.errorStream)
            if (status !in 200..299) throw errorFor(status, text)
            return text
        } catch (e: Exception) {
            throw when {
                e is ApiError.Cancelled -> e
                // Whatever a cancel broke is the cancel, including the JDK's own exceptions (a
                // NullPointerException when the disconnect lands inside one of its calls).
                cancel.isCancelled -> ApiError.Cancelled().apply { addSuppressed(e) }
                e is ApiError -> e
                e is IOException -> classify(e, path)
                else -> e
            }
        } finally {
            cancel.detach(conn)
            conn.disconnect()
        }
    }

    /** Writes the body in chunks, reporting progress; returns the write failure instead of throwing. */
    private fun upload(conn: HttpURLConnection, body: ByteArray, progress: ProgressListener?): IOException? {
        val total = body.size.toLong()
        return try {
            conn.outputStream.use { out ->
                var sent = 0
                while (sent < body.size) {
                    val n = minOf(CHUNK, body.size - sent)
                    out.write(body, sent, n)
                    sent += n
                    progress?.onProgress(sent.toLong(), total)
                }
            }
            null
        } catch (e: IOException) {
            e
        }
    }

    private fun errorFor(status: Int, body: String): ApiError {
        val (code, message) = ApiJson.parseError(status, body)
        return when (status) {
            400 -> ApiError.BadImage(code, message)
            401, 403 -> ApiError.Unauthorized(code, message)
            413 -> ApiError.TooLarge(code, message)
            415 -> ApiError.UnsupportedType(code, message)
            else -> ApiError.Server(status, code, message)
        }
    }

    private fun classify(e: IOException, path: String): ApiError = when {
        e is SocketTimeoutException -> ApiError.Timeout("no answer from $base$path within the timeout", e)
        e is UnknownHostException || e is ConnectException || e is NoRouteToHostException ->
            ApiError.Network("cannot reach $base$path: ${e.message}", e)
        else -> ApiError.Network("connection to $base$path failed: ${e.message}", e)
    }

    private fun readAll(stream: InputStream?): String =
        stream?.use { String(it.readBytes(), Charsets.UTF_8) } ?: ""

    private companion object {
        const val CHUNK = 16 * 1024
    }
}
