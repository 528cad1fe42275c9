// Compiled once when the image is built, so that scalac's classes are
// archived (class-data sharing) instead of parsed on every compile.
case class Point(x: Int, y: Int)

object Training {
  def main(args: Array[String]): Unit = {
    val line = scala.io.StdIn.readLine()
    val words = line.split("\\s+").filter(_.nonEmpty).map(_.toLong)
    val points = (1 to 10).map(i => Point(i, i * i)).sortBy(-_.y)
    println(s"sum=${words.sum} ${points.head} ${Map("a" -> 1)("a")}")
    if (args.nonEmpty) sys.exit(3)
  }
}
