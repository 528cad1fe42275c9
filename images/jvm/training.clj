; Run once when the image is built, so that Clojure's classes are archived
; (class-data sharing) instead of loaded from the jar on every run.
(require '[clojure.string :as str])
(let [words (remove empty? (str/split "1 2 3" #"\s+"))]
  (println (str "sum=" (reduce + (map #(Long/parseLong %) words)))))
