package com.melanomaexp.core

import java.io.IOException
import java.io.InputStream
import java.net.ConnectException
import java.net.HttpURLConnection
import java.net.NoRouteToHostException
import java.net.SocketTimeoutException
import java.net.URL
import java.net.UnknownHostException
import java.util.concurrent.atomic.AtomicBoolean
import java.util.concurrent.atomic.AtomicReference

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
 * Lets the UI cancel a running request from another thread: disconnecting the connection makes the
 * blocked read/write fail at once, which the client reports as [ApiError.Cancelled].
 */
class CancellationSignal {
    private val cancelled = AtomicBoolean(false)
    private val connection = AtomicReference<HttpURLConnection?>(null)

    val isCancelled: Boolean get() = cancelled.get()

    /** Cancels the request; safe to call at any time, any number of times. */
    fun cancel() {
        cancelled.set(true)
        connection.getAndSet(null)?.disconnect()
    }

    internal fun attach(conn: HttpURLConnection) {
        connection.set(conn)
        if (cancelled.get()) conn.disconnect()
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

    /** Uploads [image] to `POST /v1/predict` and parses the answer; throws a typed [ApiError]. */
    fun predict(
        image: ByteArray,
        contentType: String = "image/jpeg",
        progress: ProgressListener? = null,
        cancel: CancellationSignal = CancellationSignal(),
    ): Prediction {
        val body = MultipartBody("image", "photo." + contentType.substringAfter('/'), contentType, image)
        val text = exchange("POST", "/v1/predict", body.contentType, body.bytes, progress, cancel)
        return try {
            ApiJson.parsePrediction(text)
        } catch (e: ContractException) {
            throw ApiError.InvalidResponse("unexpected answer from ${base}/v1/predict: ${e.message}", e)
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
        cancel.attach(conn)
        try {
            conn.requestMethod = method
            conn.connectTimeout = config.connectTimeoutMs
            conn.readTimeout = config.readTimeoutMs
            conn.useCaches = false
            conn.setRequestProperty("Accept", "application/json")
            config.apiKey?.takeIf { it.isNotEmpty() }?.let { conn.setRequestProperty(config.apiKeyHeader, it) }
            var uploadError: IOException? = null
            if (body != null) {
                conn.doOutput = true
                conn.setRequestProperty("Content-Type", contentType)
                conn.setFixedLengthStreamingMode(body.size.toLong())
                uploadError = upload(conn, body, progress)
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
        } catch (e: ApiError) {
            throw e
        } catch (e: IOException) {
            throw classify(e, path, cancel)
        } finally {
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

    private fun classify(e: IOException, path: String, cancel: CancellationSignal): ApiError = when {
        cancel.isCancelled -> ApiError.Cancelled()
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
