package com.melanomaexp.app

import android.content.Context
import com.melanomaexp.core.Heatmap
import com.melanomaexp.core.ModelInput
import com.melanomaexp.core.ModelSpec
import org.tensorflow.lite.Interpreter
import java.io.FileInputStream
import java.nio.ByteBuffer
import java.nio.ByteOrder
import java.nio.MappedByteBuffer
import java.nio.channels.FileChannel

/**
 * A bundled LiteRT model, fed the core's [ModelInput] (float32 NHWC RGB 0-255
 * as model.json states): the classifier — `model.tflite` or `model_int8.tflite`, whichever model.json
 * `on_device.recommended_model` names ([ModelSpec.onDeviceModelFile]) — answers the malignant
 * probability, `ood.tflite` the not-a-lesion score. `explain.tflite` ([heatmap]) has two outputs,
 * the probability (1, 1) and the Grad-CAM map (1, h, w). All take the classifier's input.
 */
class LiteRtModel(context: Context, private val assetName: String, spec: ModelSpec, threads: Int = 2) {
    private val interpreter = Interpreter(mapAsset(context, assetName), Interpreter.Options().setNumThreads(threads))

    init {
        val shape = interpreter.getInputTensor(0).shape().toList()
        check(shape == listOf(1, spec.input.height, spec.input.width, 3)) {
            "$assetName takes input $shape but model.json says [1, ${spec.input.height}, ${spec.input.width}, 3]: " +
                "copy all files from the same export"
        }
    }

    /** The model's single output for one input. */
    fun output(input: ModelInput): Double {
        val output = Array(1) { FloatArray(1) }
        synchronized(interpreter) { interpreter.run(inputBuffer(input), output) } // an Interpreter is not thread-safe
        return output[0][0].toDouble()
    }

    /**
     * `explain.tflite`'s Grad-CAM map for one input: its outputs are told apart by rank, as the
     * serving app does (`serving/explain.py`): probability (1, 1), heatmap (1, h, w); the map is
     * cleaned as there (clipped to [0, 1], NaN as 0). The core checks h x w against model.json.
     */
    fun heatmap(input: ModelInput): Heatmap {
        val shapes = List(interpreter.outputTensorCount) { interpreter.getOutputTensor(it).shape().toList() }
        val heat = shapes.indices.filter { shapes[it].size == 3 }
        val prob = shapes.indices.filter { shapes[it].size == 2 }
        check(heat.size == 1 && prob.size == 1 && shapes[heat[0]][0] == 1) {
            "$assetName: expected outputs probability (1, 1) and heatmap (1, h, w), got $shapes"
        }
        val (height, width) = shapes[heat[0]].let { it[1] to it[2] }
        val map = Array(1) { Array(height) { FloatArray(width) } }
        val probability = Array(1) { FloatArray(1) }
        synchronized(interpreter) {
            interpreter.runForMultipleInputsOutputs(arrayOf<Any>(inputBuffer(input)), mapOf<Int, Any>(heat[0] to map, prob[0] to probability))
        }
        return Heatmap.fromModelOutput(height, width, FloatArray(height * width) { map[0][it / width][it % width] })
    }

    private fun inputBuffer(input: ModelInput): ByteBuffer =
        ByteBuffer.allocateDirect(input.values.size * 4).order(ByteOrder.nativeOrder()).also { it.asFloatBuffer().put(input.values) }

    private fun mapAsset(context: Context, name: String): MappedByteBuffer =
        context.assets.openFd(name).use { fd ->
            FileInputStream(fd.fileDescriptor).channel.use { channel ->
                channel.map(FileChannel.MapMode.READ_ONLY, fd.startOffset, fd.declaredLength)
            }
        }
}
