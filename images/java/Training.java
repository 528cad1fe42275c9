import java.io.*;
import java.util.*;
import java.util.function.*;
import java.util.stream.*;

// A training program for the class-data-sharing archive of javac (see the
// Dockerfile): it exercises the parts of the language typical submissions use
// (generics, lambdas, streams, records, switch expressions, text blocks, …),
// so that the javac classes compiling them are in the archive. Never run.
public class Training {
    interface Shape { double area(); }
    record Circle(double r) implements Shape { public double area() { return Math.PI * r * r; } }
    record Rect(double w, double h) implements Shape { public double area() { return w * h; } }
    enum Colour { RED, GREEN, BLUE; Colour next() { return values()[(ordinal() + 1) % 3]; } }
    static abstract class Animal {
        protected final String name;
        Animal(String name) { this.name = name; }
        abstract String sound();
        @Override public String toString() { return name + " says " + sound(); }
    }
    static class Dog extends Animal { Dog() { super("dog"); } String sound() { return "woof"; } }
    static <T extends Comparable<T>> T max(List<T> xs) {
        T best = null;
        for (T x : xs) if (best == null || x.compareTo(best) > 0) best = x;
        return best;
    }
    static int sum(int... xs) { int s = 0; for (int x : xs) s += x; return s; }
    static long fib(int n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }

    public static void main(String[] args) throws IOException {
        Scanner in = new Scanner(System.in);
        BufferedReader reader = new BufferedReader(new InputStreamReader(System.in));
        StringBuilder sb = new StringBuilder();
        List<Integer> nums = new ArrayList<>(List.of(5, 3, 8, 1));
        Collections.sort(nums);
        nums.sort(Comparator.reverseOrder());
        Map<String, Integer> counts = new HashMap<>();
        for (String w : "a b a c b a".split(" ")) counts.merge(w, 1, Integer::sum);
        TreeMap<String, List<Integer>> tree = new TreeMap<>();
        tree.computeIfAbsent("x", k -> new LinkedList<>()).add(1);
        Deque<Integer> dq = new ArrayDeque<>(); dq.push(1); dq.offerLast(2);
        PriorityQueue<int[]> pq = new PriorityQueue<>((a, b) -> Integer.compare(a[0], b[0]));
        pq.add(new int[] {3, 4});
        Set<Character> seen = new HashSet<>(); seen.add('c');
        int[][] grid = new int[3][4];
        Arrays.fill(grid[0], 7);
        long[] big = LongStream.rangeClosed(1, 10).toArray();
        String joined = nums.stream().filter(x -> x % 2 == 1).map(String::valueOf).collect(Collectors.joining(","));
        Map<Boolean, List<Integer>> parts = IntStream.range(0, 10).boxed().collect(Collectors.partitioningBy(x -> x > 4));
        Optional<String> first = counts.keySet().stream().sorted().findFirst();
        Function<Integer, Integer> twice = x -> x * 2;
        Supplier<String> hi = () -> "hi";
        BiFunction<Integer, Integer, Integer> add = (a, b) -> a + b;
        Shape[] shapes = { new Circle(1), new Rect(2, 3) };
        double total = 0;
        for (Shape s : shapes) {
            total += s.area();
        }
        if (shapes[0] instanceof Circle c && c.r() > 0) total += 0;
        Colour colour = Colour.RED;
        String label = switch (colour) { case RED -> "r"; case GREEN -> "g"; default -> "b"; };
        var text = """
            text block %s
            """.formatted(label);
        try (StringReader r = new StringReader("x")) {
            r.read();
        } catch (IOException | RuntimeException e) {
            throw new UncheckedIOException(new IOException(e));
        } finally {
            sb.append(text.strip());
        }
        Runnable task = new Runnable() { public void run() { sb.append(new Dog()); } };
        task.run();
        char[] cs = "hello".toCharArray(); Arrays.sort(cs);
        Integer boxed = 42; int unboxed = boxed; long l = unboxed + 1L;
        sb.append(String.format("%d %.2f %s %b%n", sum(1, 2), total, joined, parts.isEmpty()));
        sb.append(max(Arrays.asList("a", "b"))).append(fib(10)).append(Math.max(l, 2)).append(first.orElse(""));
        sb.append(twice.andThen(x -> x + 1).apply(3)).append(hi.get()).append(add.apply(1, 2));
        sb.append(Integer.parseInt("12")).append(Long.MAX_VALUE).append(Double.parseDouble("1.5"));
        sb.append(new String(cs)).append(String.valueOf(grid[0][0])).append(big.length).append(colour.next());
        sb.append(dq.peekFirst()).append(pq.poll()[1]).append(seen.contains('c')).append(tree);
        System.out.printf("%s%n", sb.length() > 0 ? "ok" : "");
        System.out.println(Objects.hash(1, 2) != 0 && in != null && reader != null);
        PrintWriter out = new PrintWriter(new BufferedWriter(new OutputStreamWriter(System.out)));
        out.println(new java.math.BigInteger("123456789012345678901234567890").multiply(java.math.BigInteger.TWO));
        out.println(new java.math.BigDecimal("1.10").add(java.math.BigDecimal.ONE));
        out.flush();
    }
}
