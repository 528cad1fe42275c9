// Compiled once when the image is built, so that kotlinc's classes are
// archived (class-data sharing) instead of parsed on every compile.
import kotlin.system.exitProcess

data class Point(val x: Int, val y: Int)

fun main(args: Array<String>) {
    val line = readLine() ?: ""
    val words = line.split(Regex("\\s+")).filter { it.isNotEmpty() }.map { it.toLong() }
    val points = (1..10).map { Point(it, it * it) }.sortedByDescending { it.y }
    println("sum=${words.sum()} ${points.first()} ${mapOf("a" to 1).getValue("a")}")
    if (args.isNotEmpty()) exitProcess(3)
}
