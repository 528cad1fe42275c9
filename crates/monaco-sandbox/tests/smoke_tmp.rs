use monaco_core::*;
use monaco_languages::Registry;
use monaco_sandbox::*;

#[tokio::test]
async fn smoke() {
    let reg = Registry::load(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../languages.toml"
    )))
    .unwrap();
    let sb = DockerSandbox::connect(DockerConfig::default())
        .await
        .unwrap();
    for id in ["python", "c", "cpp", "java", "javascript", "go"] {
        let lang = reg.get(id).unwrap();
        let limits = Limits::default().with(lang.limits());
        let file = lang.source_file_name(lang.hello());
        let env = vec![
            (
                "PATH".to_string(),
                "/usr/local/bin:/usr/bin:/bin".to_string(),
            ),
            ("HOME".into(), "/tmp".into()),
            ("LANG".into(), "C.UTF-8".into()),
        ];
        let job = SandboxJob {
            id: ExecutionId::new(),
            language: id.into(),
            image: lang.image().into(),
            files: vec![SourceFile {
                name: file.clone(),
                content: lang.hello().into(),
            }],
            compile: lang.compile_step(&file, &limits, &env),
            run: lang.run_step(&file, &[], &limits, &env),
            tty: lang.tty(),
            stdin: vec![],
            interactive: false,
            tmp_bytes: limits.tmp_bytes,
        };
        let t = std::time::Instant::now();
        let ev = sb.start(job).await.unwrap().collect().await;
        println!("{id}: {:?} {:?}", t.elapsed(), ev);
    }
    sb.settle().await;
}
