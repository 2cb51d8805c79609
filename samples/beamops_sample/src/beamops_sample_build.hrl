%% Fields every HTTP answer carries besides version and node: none in a
%% release build. A hot patch build lays its own file over this one.
-define(BUILD_MARKS, #{}).
